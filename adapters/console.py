"""The terminal channel: ``plaza chat`` talks to the bot through standard input and output.

Every line typed is a message (with its own id, so the inbox stores it once);
replies are printed with their options as numbered lines, since a terminal
has no buttons. ``/salir`` (``/quit``) or end of input leaves. A terminal has
no camera or map: the location question takes a typed address, coordinates or
a map link, and the optional photo can be skipped.
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from datetime import UTC, datetime
from typing import TextIO

from adapters.base import Dispatch, Limits, numbered_options
from bot.messages import InboundMessage, OutboundMessage, SentReceipt

__all__ = ["ConsoleChannel"]

NAME = "console"
QUIT = {"/salir", "/quit", "/exit"}


class ConsoleChannel:
    """One resident (``user``) at one terminal."""

    def __init__(
        self,
        user: str,
        *,
        language: str | None = None,
        town: str = "Plaza",
        stdin: TextIO | None = None,
        stdout: TextIO | None = None,
    ) -> None:
        self.user = user
        self.language = language
        self.town = town
        self._stdin = stdin or sys.stdin
        self._stdout = stdout or sys.stdout
        self._reader: asyncio.Task[None] | None = None
        self.closed = asyncio.Event()

    @property
    def name(self) -> str:
        return NAME

    @property
    def limits(self) -> Limits:
        return Limits(max_text=100_000, max_options=50, per_chat_per_s=1000.0, overall_per_s=1000.0)

    def message(self, text: str | None) -> InboundMessage:
        return InboundMessage(
            channel=NAME,
            platform_message_id=str(uuid.uuid4()),
            sender_id=self.user,
            chat_id=self.user,
            sent_at=datetime.now(UTC),
            text=text,
            language=self.language,
            sender_name=self.user,
        )

    async def start(self, dispatch: Dispatch) -> None:
        if self._reader is None:
            self._reader = asyncio.create_task(self._read(dispatch), name="console-reader")

    async def stop(self) -> None:
        reader, self._reader = self._reader, None
        if reader is not None:
            reader.cancel()
            try:
                await reader
            except asyncio.CancelledError:
                pass

    async def _read(self, dispatch: Dispatch) -> None:
        try:
            while True:
                line = await asyncio.to_thread(self._stdin.readline)
                if not line:
                    break
                text = line.rstrip("\n")
                if text.strip().lower() in QUIT:
                    break
                await dispatch([self.message(text)])
        finally:
            self.closed.set()

    async def send(self, message: OutboundMessage) -> SentReceipt:
        text = numbered_options(message.text, message.options)
        indented = text.replace("\n", "\n    ")
        self._stdout.write(f"\n{self.town} › {indented}\n\n")
        self._stdout.flush()
        return SentReceipt(platform_message_ids=(str(message.id),), sent_at=datetime.now(UTC))
