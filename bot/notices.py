"""Wording for what Plaza tells a resident outside a conversation's turn (handoffs, status changes).

The words are in ``flows/messages.yaml``; a :class:`Wording` picks the
resident's language and fills ``{placeholders}`` (``{town}`` is always known).
"""

from __future__ import annotations

from collections.abc import Mapping

from bot.config import Config
from bot.flows import MESSAGES_FILE, Text, load_messages
from bot.templates import pick, render

__all__ = ["Wording"]


class Wording:
    """The bot's wording for one town; reads ``messages.yaml`` unless given it."""

    def __init__(self, config: Config, messages: Mapping[str, Text] | None = None) -> None:
        self.config = config
        self.messages = (
            messages if messages is not None else load_messages(config.flows_dir / MESSAGES_FILE, config.languages)
        )

    def text(self, key: str, language: str, **values: object) -> str:
        """The text of ``key`` in ``language`` (else the town's default), placeholders filled."""
        return render(
            pick(self.messages[key], language, self.config.default_language), {"town": self.config.town_name, **values}
        )

    def name(self, names: Mapping[str, str] | None, language: str, fallback: str) -> str:
        """A config name (``{es: Alcaldía, en: Mayor's office}``) in ``language``."""
        if not names:
            return fallback
        return pick(names, language, self.config.default_language) or fallback
