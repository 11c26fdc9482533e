"""The `incidents` command line: open, watch, acknowledge and report on incidents, and manage on-call overrides."""
