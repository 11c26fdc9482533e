"""AWS plumbing every handler shares: SDK clients, settings, the wired dependencies, metrics and logs."""
