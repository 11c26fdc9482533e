"""Repository tooling that runs outside the deployed app (documentation generators)."""
