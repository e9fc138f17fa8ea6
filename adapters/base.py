"""The channel protocol every adapter implements, and what adapters share.

An adapter knows its platform and nothing of flows. It imports only
:mod:`bot.messages` and :mod:`bot.errors` from the engine side.

Contract of a :class:`Channel`:

- ``start(dispatch)`` begins receiving (polling, streaming, or nothing for
  webhook channels) and must be idempotent; every :class:`InboundMessage` it
  receives is handed to ``dispatch`` and considered accepted only when
  ``dispatch`` returned (the message is then stored). An adapter must not
  acknowledge a platform event (advance an offset, answer 200) before that.
- ``stop()`` releases everything ``start`` took; idempotent.
- ``send(message)`` returns a :class:`SentReceipt` only when the platform
  accepted every part of the message; otherwise it raises
  :class:`~bot.errors.RetryLater` or :class:`~bot.errors.Undeliverable`. It
  never returns on failure and never retries by itself: the outbox does.

A :class:`WebhookChannel` also turns an HTTP request into messages with
``parse`` (verify first, then decode; raise :class:`~bot.errors.BadSignature`
or :class:`~bot.errors.BadPayload`), and answers handshakes with ``challenge``.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from bot.messages import InboundMessage, Option, OutboundMessage, SentReceipt

__all__ = [
    "Channel",
    "Checkable",
    "Dispatch",
    "Limits",
    "LoadMedia",
    "MediaSending",
    "PhotoSource",
    "WebhookChannel",
    "WebhookRequest",
    "WebhookResponse",
    "decode_json",
    "numbered_options",
    "split_text",
]

def _refuse_constant(name: str) -> object:
    raise ValueError(f"{name} is not a JSON number")


def decode_json(body: bytes) -> object:
    """The JSON document in ``body``, strictly: what a database and every later step can hold.

    Raises :class:`ValueError` with a reason for bytes that are not UTF-8, text
    that is not JSON, ``NaN``/``Infinity`` (Python's extension, refused by
    PostgreSQL), nesting deeper than the parser's recursion limit, and strings
    holding a lone surrogate such as ``"\\ud83d"`` (valid JSON syntax, but not
    Unicode: it cannot be stored or sent back).
    """
    try:
        document = json.loads(body, parse_constant=_refuse_constant)
    except RecursionError:
        raise ValueError("the JSON is nested too deeply") from None
    except UnicodeDecodeError as error:
        raise ValueError(f"the body is not UTF-8: {error.reason} at byte {error.start}") from None
    try:
        json.dumps(document, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("a string holds a lone surrogate (such as \\ud83d alone), which is not text") from None
    except RecursionError:
        raise ValueError("the JSON is nested too deeply") from None
    return document


Dispatch = Callable[[Sequence[InboundMessage]], Awaitable[None]]
"""Stores messages durably; returns once they are committed to the inbox."""

LoadMedia = Callable[[str], Awaitable[tuple[bytes, str]]]
"""Reads a photo Plaza stored (``media:<id>``): its bytes and MIME type.

Raises :class:`~bot.errors.NotFound` when there is no such photo."""


@dataclass(frozen=True, slots=True)
class Limits:
    """What a platform allows; the outbox paces sends by these."""

    max_text: int
    max_options: int
    per_chat_per_s: float
    overall_per_s: float


@dataclass(frozen=True, slots=True)
class WebhookRequest:
    """A framework-free HTTP request; header names are lower-case."""

    method: str
    headers: Mapping[str, str]
    query: Mapping[str, str]
    body: bytes
    path_params: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class WebhookResponse:
    """What to answer to a handshake such as X's CRC challenge."""

    status: int
    body: bytes
    content_type: str = "application/json"


@runtime_checkable
class Channel(Protocol):
    """A messenger Plaza talks through (see the module docstring for the contract)."""

    @property
    def name(self) -> str: ...

    @property
    def limits(self) -> Limits: ...

    async def start(self, dispatch: Dispatch) -> None: ...

    async def stop(self) -> None: ...

    async def send(self, message: OutboundMessage) -> SentReceipt: ...


@runtime_checkable
class Checkable(Protocol):
    """A channel that can say whether it reaches its platform (``plaza channels check``)."""

    async def check(self) -> str:
        """The account it acts as (``@JunBot``); raises :class:`~bot.errors.ChannelError` if unreachable."""
        ...


@runtime_checkable
class PhotoSource(Protocol):
    """A channel that can fetch the bytes of a photo a user sent on its platform."""

    async def fetch_photo(self, ref: str) -> bytes:
        """The bytes behind ``ref`` (the platform's reference, as the channel put it in a :class:`Photo`).

        Raises :class:`~bot.errors.RetryLater` or :class:`~bot.errors.Undeliverable`
        when the platform does not give it.
        """
        ...


@runtime_checkable
class MediaSending(Protocol):
    """A channel that sends Plaza's stored photos (``media:<id>``) as real photos.

    The runtime calls ``use_media`` once, before ``start``, with the function
    that reads them; without it such a photo is :class:`~bot.errors.Undeliverable`.
    """

    def use_media(self, load: LoadMedia) -> None: ...


@runtime_checkable
class WebhookChannel(Channel, Protocol):
    """A channel whose platform pushes events to our HTTP endpoint."""

    def parse(self, request: WebhookRequest) -> list[InboundMessage]: ...

    def challenge(self, request: WebhookRequest) -> WebhookResponse | None: ...


def numbered_options(text: str, options: Sequence[Option]) -> str:
    """Append options as numbered lines, for channels without buttons.

    The numbers are what the engine accepts as answers, so "1" picks the first
    option on every channel.
    """
    if not options:
        return text
    lines = [f"{number}. {option.label}" for number, option in enumerate(options, start=1)]
    return "\n".join([text, "", *lines]) if text else "\n".join(lines)


def split_text(text: str, limit: int) -> list[str]:
    """Split ``text`` into parts of at most ``limit`` characters, in order.

    Cuts at the last paragraph break, else line break, else space that keeps a
    part within the limit, and only mid-word when a word is longer than the
    limit. Joining the parts with the separators cut at gives the text back
    (less the whitespace at the cuts). Empty text gives one empty part.
    """
    if limit < 1:
        raise ValueError(f"limit must be positive, got {limit}")
    rest = text.strip()
    parts: list[str] = []
    while len(rest) > limit:
        window = rest[: limit + 1]
        cut = -1
        for separator in ("\n\n", "\n", " "):
            cut = window.rfind(separator)
            if cut > 0:
                break
        if cut <= 0:
            cut = limit
        parts.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    parts.append(rest)
    return parts
