"""The value types that cross the adapter/engine boundary.

Imports nothing of Plaza: adapters and the engine both depend on this module,
never the other way round. Every type is a frozen, slotted dataclass, so a
message cannot change after an adapter built it.

- :class:`InboundMessage` is what an adapter makes of one platform event.
  ``(channel, platform_message_id)`` is its dedup key in the inbox.
- :class:`OutboundMessage` is one reply or announcement. ``id`` is the outbox
  row id, which doubles as the idempotency key on platforms that take one.
- :class:`SentReceipt` is what a channel returns once the platform accepted it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

__all__ = [
    "InboundMessage",
    "Location",
    "Option",
    "OutboundMessage",
    "Photo",
    "SentReceipt",
]


@dataclass(frozen=True, slots=True)
class Location:
    """A point on the map, in WGS84 degrees."""

    latitude: float
    longitude: float

    def __post_init__(self) -> None:
        if not (-90.0 <= self.latitude <= 90.0 and -180.0 <= self.longitude <= 180.0):
            raise ValueError(f"not a place on Earth: {self.latitude}, {self.longitude}")


@dataclass(frozen=True, slots=True)
class Photo:
    """A photo the resident sent.

    ``ref`` is opaque to the engine: a platform file id, a URL, or
    ``media:<id>`` for bytes Plaza stored itself. Only the adapter that made it
    (or the media store) can resolve it. ``origin`` names the channel a
    platform ref belongs to when it travels to another channel (an official's
    Telegram photo sent on to a resident on the web chat); None means the
    message's own channel, or a ``media:<id>`` ref, which every channel reads.
    """

    ref: str
    mime_type: str | None = None
    origin: str | None = None


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """One thing a resident sent, normalized.

    ``text`` may be empty and ``photos`` may hold content the bot cannot read;
    adapters still deliver such messages so the bot can say so. ``choice`` is
    the :attr:`Option.key` of a pressed button. ``unsupported`` names content
    the adapter could not map (a sticker, a voice note). ``reply_to`` is the
    platform id of the message this one answers, when the platform says (an
    official answering a relayed handoff). ``raw`` keeps the platform payload
    for audit only: the engine never reads it.
    """

    channel: str
    platform_message_id: str
    sender_id: str
    chat_id: str
    sent_at: datetime
    text: str | None = None
    choice: str | None = None
    photos: tuple[Photo, ...] = ()
    location: Location | None = None
    language: str | None = None
    sender_name: str | None = None
    unsupported: str | None = None
    reply_to: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Option:
    """A choice offered to the resident; ``label`` is already translated."""

    key: str
    label: str


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    """One message to send.

    ``text`` may be of any length: the adapter splits it at its platform's
    limit. ``options`` become buttons where the platform has them and numbered
    lines where it does not. ``expects`` tells a rich client which kind of
    answer the question wants (``"location"``, ``"photo"``, ...), so it can offer
    a location button or a file picker; plain-text channels ignore it.
    """

    id: int
    channel: str
    chat_id: str
    text: str
    options: tuple[Option, ...] = ()
    photo: Photo | None = None
    expects: str | None = None
    reply_to: str | None = None
    public: bool = False


@dataclass(frozen=True, slots=True)
class SentReceipt:
    """The platform's ids for what it accepted (one per part of a split text)."""

    platform_message_ids: tuple[str, ...]
    sent_at: datetime
