"""The web chat: Plaza's own channel, served by Plaza's HTTP app.

Residents use the page at ``/chat``; it talks to the JSON API in
:mod:`bot.web.chat`. This module holds the channel side: validating what the
page posts into an :class:`InboundMessage`, and "sending", which for the web
chat means the reply becomes readable by the page (the outbox row is marked
sent and long polls wake up).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from adapters.base import Dispatch, Limits
from bot.errors import BadPayload
from bot.messages import InboundMessage, Location, OutboundMessage, SentReceipt

__all__ = ["MAX_PHOTO_BYTES", "MAX_TEXT", "STATIC_DIR", "PhotoUpload", "WebChannel", "valid_session"]

STATIC_DIR = Path(__file__).parent / "web_static"
SESSION = re.compile(r"[A-Za-z0-9_-]{16,64}")
CLIENT_ID = re.compile(r"[A-Za-z0-9_.:-]{1,100}")
MAX_TEXT = 4000
MAX_PHOTO_BYTES = 10 * 1024 * 1024
PHOTO_SIGNATURES: Mapping[bytes, str] = {
    b"\xff\xd8\xff": "image/jpeg",
    b"\x89PNG\r\n\x1a\n": "image/png",
    b"GIF87a": "image/gif",
    b"GIF89a": "image/gif",
}
NAME = "web"


def valid_session(session: str) -> bool:
    return SESSION.fullmatch(session) is not None


def sniff_image(data: bytes) -> str | None:
    """The image type the bytes really are (never trust the declared one), or None."""
    for signature, mime in PHOTO_SIGNATURES.items():
        if data.startswith(signature):
            return mime
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


@dataclass(frozen=True, slots=True)
class PhotoUpload:
    data: bytes
    mime_type: str


class WebChannel:
    """The web chat channel. ``send`` never fails: the page fetches what was marked sent."""

    def __init__(self, on_send: Callable[[OutboundMessage], Awaitable[None]] | None = None) -> None:
        self._on_send = on_send

    @property
    def name(self) -> str:
        return NAME

    @property
    def limits(self) -> Limits:
        return Limits(max_text=MAX_TEXT * 4, max_options=20, per_chat_per_s=1000.0, overall_per_s=10000.0)

    async def start(self, dispatch: Dispatch) -> None:
        """Nothing to start: messages arrive through the HTTP API."""

    async def stop(self) -> None:
        """Nothing to stop."""

    async def send(self, message: OutboundMessage) -> SentReceipt:
        if self._on_send is not None:
            await self._on_send(message)
        return SentReceipt(platform_message_ids=(str(message.id),), sent_at=datetime.now(UTC))

    def message(
        self,
        session: str,
        fields: Mapping[str, object],
        photo: PhotoUpload | None = None,
        accept_language: str | None = None,
    ) -> InboundMessage:
        """Validate what the page posted (``text``, ``choice``, ``location``, ``start``) into a message.

        Raises :class:`BadPayload` with a reason a person can act on.
        """
        if not valid_session(session):
            raise BadPayload(NAME, "the session id must be 16 to 64 letters, digits, '-' or '_'")
        known = {"text", "choice", "location", "start", "client_message_id", "language"}
        unknown = sorted(str(key) for key in fields if key not in known)
        if unknown:
            raise BadPayload(NAME, f"unknown field(s): {', '.join(unknown)}; expected text, choice, location or start")
        text = fields.get("text")
        choice = fields.get("choice")
        location_raw = fields.get("location")
        start = fields.get("start")
        if text is not None and not isinstance(text, str):
            raise BadPayload(NAME, "`text` must be a string")
        if isinstance(text, str) and len(text) > MAX_TEXT:
            raise BadPayload(NAME, f"`text` is longer than {MAX_TEXT} characters")
        if choice is not None and (not isinstance(choice, str) or not 0 < len(choice) <= 100):
            raise BadPayload(NAME, "`choice` must be an option key (a short string)")
        if start is not None and start is not True:
            raise BadPayload(NAME, "`start` may only be true")
        location: Location | None = None
        if location_raw is not None:
            if not isinstance(location_raw, Mapping):
                raise BadPayload(NAME, "`location` must be an object with latitude and longitude")
            lat, lon = location_raw.get("latitude"), location_raw.get("longitude")
            if (
                isinstance(lat, bool)
                or isinstance(lon, bool)
                or not isinstance(lat, (int, float))
                or not isinstance(lon, (int, float))
            ):
                raise BadPayload(NAME, "`location` needs numeric latitude and longitude")
            try:
                location = Location(float(lat), float(lon))
            except ValueError as error:
                raise BadPayload(NAME, f"`location`: {error}") from None
        if text is None and choice is None and location is None and photo is None and start is None:
            raise BadPayload(NAME, "send one of: text, choice, location, a photo, or start")
        client_id = fields.get("client_message_id")
        if client_id is not None and (not isinstance(client_id, str) or not CLIENT_ID.fullmatch(client_id)):
            raise BadPayload(NAME, "`client_message_id` must be 1 to 100 letters, digits or -_.:")
        language = fields.get("language")
        if language is not None and (not isinstance(language, str) or len(language) > 35):
            raise BadPayload(NAME, "`language` must be a language tag such as es-ES")
        message_id = f"{session}:{client_id}" if isinstance(client_id, str) else f"{session}:{uuid.uuid4()}"
        return InboundMessage(
            channel=NAME,
            platform_message_id=message_id,
            sender_id=session,
            chat_id=session,
            sent_at=datetime.now(UTC),
            text=text if isinstance(text, str) else None,
            choice=choice if isinstance(choice, str) else None,
            location=location,
            language=language if isinstance(language, str) else accept_language,
            raw={k: v for k, v in fields.items() if k != "text"},
        )
