"""End-to-end: the bundled sandbox scenarios, each run once against the synthesized stack on moto."""
