"""A dispatch for channel tests: keeps what a channel hands it, in order, as the inbox would receive it."""

from __future__ import annotations

from collections.abc import Sequence

from bot.messages import InboundMessage

__all__ = ["Inbox"]


class Inbox:
    """A dispatch that keeps what it was given."""

    def __init__(self) -> None:
        self.messages: list[InboundMessage] = []

    async def __call__(self, messages: Sequence[InboundMessage]) -> None:
        self.messages.extend(messages)
