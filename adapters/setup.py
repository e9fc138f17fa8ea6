"""Which platform channels to run, from config.yaml's ``channels:`` and the environment.

Each platform adapter module has ``from_config(settings, environ) -> Channel``:
``settings`` is its section of config.yaml, ``environ`` the environment
(secrets and base URLs live there, never in config.yaml). A channel that is
not ``enabled`` is not built; an enabled one whose secrets are missing stops
Plaza with a :class:`~bot.errors.ConfigError` naming the variable to set.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping

from adapters.base import Channel
from bot.config import Config
from bot.errors import ConfigError

__all__ = ["PLATFORMS", "platform_channels"]

PLATFORMS: Mapping[str, str] = {
    "telegram": "adapters.telegram",
    "mastodon": "adapters.mastodon",
    "x": "adapters.x",
}
"""Channel name -> the adapter module that builds it."""


def platform_channels(config: Config, environ: Mapping[str, str]) -> list[Channel]:
    """The enabled platform channels, built and configured (not started)."""
    channels: list[Channel] = []
    for name, module_name in PLATFORMS.items():
        settings = config.channels.get(name)
        if settings is None or not settings.enabled:
            continue
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError:
            raise ConfigError(
                str(config.path), None, f"channels.{name}", "this Plaza has no adapter for it yet", "set enabled: false"
            ) from None
        channels.append(module.from_config(settings.settings, environ))
    return channels
