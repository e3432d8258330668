"""The one error a bad option raises, wherever it is found: the command line, a TOML file, the environment, a store."""

from __future__ import annotations

__all__ = ["ConfigError"]


class ConfigError(ValueError):
    """A bad option: ``str(err)`` is the one-line message shown to the user."""

    def __init__(self, option: str, message: str) -> None:
        super().__init__(f"{option}: {message}")
        self.option = option
