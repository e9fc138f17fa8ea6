"""Pacing one channel account's sends: never faster than the platform allows.

A :class:`Pacer` keeps, for one (channel, account), the earliest moment the
next request may go overall and to each chat, from the channel's
:class:`~adapters.base.Limits`: sends are spaced ``1 / overall_per_s`` apart
overall and ``1 / per_chat_per_s`` apart per chat, so the platform never sees
more than its limit in any window. A 429 (or any "retry later") pauses the
whole account until the time the platform gave. Failed attempts count: the
platform counted the request too.

The clock is ``time.monotonic`` unless a test passes its own. The pacer holds
no lock: one dispatcher task owns it.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from adapters.base import Limits

__all__ = ["Pacer"]

_FORGET_AFTER = 10_000
"""Chats remembered before the ones whose wait is over are forgotten."""


class Pacer:
    """When the next send may go, overall and per chat."""

    def __init__(self, limits: Limits, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._overall = 1.0 / limits.overall_per_s if limits.overall_per_s > 0 else 0.0
        self._per_chat = 1.0 / limits.per_chat_per_s if limits.per_chat_per_s > 0 else 0.0
        self._next_any = 0.0
        self._next_chat: dict[str, float] = {}
        self._paused_until = 0.0

    def now(self) -> float:
        return self._clock()

    def chat_ready_at(self, chat_id: str) -> float:
        """The earliest moment a send to ``chat_id`` may go, ignoring the overall spacing."""
        return max(self._next_chat.get(chat_id, 0.0), self._paused_until)

    def ready_at(self) -> float:
        """The earliest moment any send may go (overall spacing and pauses)."""
        return max(self._next_any, self._paused_until)

    def paused(self) -> bool:
        return self._paused_until > self._clock()

    def sent(self, chat_id: str) -> None:
        """Count one request to ``chat_id`` made now (accepted or not)."""
        now = self._clock()
        self._next_any = max(now, self._next_any) + self._overall
        self._next_chat[chat_id] = now + self._per_chat
        if len(self._next_chat) > _FORGET_AFTER:
            self._next_chat = {chat: at for chat, at in self._next_chat.items() if at > now}

    def hold(self, chat_id: str, seconds: float) -> None:
        """Nothing more goes to ``chat_id`` for ``seconds`` (the rest of a split message waits its turn)."""
        self._next_chat[chat_id] = max(self._next_chat.get(chat_id, 0.0), self._clock() + max(0.0, seconds))

    def pause(self, seconds: float) -> None:
        """The platform said to wait: nothing goes through this account for ``seconds``."""
        self._paused_until = max(self._paused_until, self._clock() + max(0.0, seconds))
