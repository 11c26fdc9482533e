"""The one error a bad setting raises (stacks/config.py and its checks)."""


class ConfigError(ValueError):
    """A context value is missing or wrong; the message names the key."""
