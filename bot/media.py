"""Photos as bytes: Plaza's own store (``media:<id>``) and the platforms' references, in one place.

A photo reference (:attr:`bot.messages.Photo.ref`) is opaque: ``media:<id>``
for bytes Plaza stored (web chat uploads, officials' photos, archived
platform photos), or a platform's own reference (a Telegram ``file_id``, a
Mastodon attachment URL), which only that platform's channel can fetch
(:class:`adapters.base.PhotoSource`: the adapter knows how, and from where;
nothing of the platform leaks here). :class:`MediaResolver` turns either into
:class:`Media` (bytes and a MIME type checked against the bytes' magic
numbers, :func:`adapters.web.sniff_image`; at most :data:`MAX_PHOTO_BYTES`, the web chat's limit too):

- ``media:<id>`` is read from the ``media`` table;
- a platform reference is looked up among the archived copies first
  (``media.source_ref``), else fetched through its channel and, when the chat
  it belongs to is known, archived, so the evidence survives the platform
  forgetting the file (Telegram keeps files for a while only; a Mastodon
  server may delete an attachment).

Errors: :class:`~bot.errors.NotFound` when there is nothing to read (no such
row, no channel for the reference, not an image), the channel's
:class:`~bot.errors.RetryLater` / :class:`~bot.errors.Undeliverable` when the
platform refused. Every method runs its database work in a worker thread.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import anyio.to_thread
from sqlalchemy import Connection, Engine, select

from adapters.base import PhotoSource
from adapters.web import MAX_PHOTO_BYTES, sniff_image
from bot.errors import NotFound
from bot.inbox import Upload, store_upload
from models import MediaItem

__all__ = [
    "MAX_PHOTO_BYTES",
    "Media",
    "MediaResolver",
    "PhotoRefused",
    "checked_photo",
    "media_id",
    "read_stored",
    "store_media",
]

MEDIA = MediaItem.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class Media:
    """A photo's bytes and its MIME type (from the bytes, never from what a client claimed)."""

    data: bytes
    mime_type: str


class PhotoRefused(ValueError):
    """An upload that is not a photo Plaza keeps; ``too_large`` tells a 413 from a 400."""

    def __init__(self, reason: str, *, too_large: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.too_large = too_large


def checked_photo(data: bytes, *, limit: int = MAX_PHOTO_BYTES) -> Media:
    """``data`` as :class:`Media` if it is a JPEG, PNG, GIF or WebP image of at most ``limit`` bytes.

    Raises :class:`PhotoRefused` saying what is wrong; the type comes from the
    bytes, whatever name or type the sender gave the file.
    """
    if len(data) > limit:
        raise PhotoRefused(
            f"the photo is {len(data) / 1_048_576:.1f} MB; the most is {limit / 1_048_576:.0f} MB", too_large=True
        )
    if not data:
        raise PhotoRefused("the photo is empty")
    mime = sniff_image(data)
    if mime is None:
        raise PhotoRefused("that file is not a photo: send a JPEG, PNG, GIF or WebP image")
    return Media(data, mime)


def media_id(ref: str) -> int | None:
    """``7`` for ``media:7``; None for any other reference."""
    number = ref.removeprefix("media:")
    return int(number) if ref.startswith("media:") and number.isdigit() else None


def read_stored(connection: Connection, number: int) -> Media | None:
    """The stored photo ``media:<number>``, or None."""
    row = connection.execute(select(MEDIA.c.mime_type, MEDIA.c.data).where(MEDIA.c.id == number)).first()
    return Media(bytes(row.data), str(row.mime_type)) if row is not None else None


def store_media(
    connection: Connection, channel: str, chat_id: str, media: Media, *, source_ref: str | None = None
) -> str:
    """Store ``media`` for the chat ``(channel, chat_id)`` in the caller's transaction; returns ``media:<id>``."""
    return store_upload(connection, channel, chat_id, Upload(media.data, media.mime_type), source_ref=source_ref)


def _archived(connection: Connection, channel: str, ref: str) -> Media | None:
    row = connection.execute(
        select(MEDIA.c.mime_type, MEDIA.c.data)
        .where(MEDIA.c.channel == channel, MEDIA.c.source_ref == ref)
        .order_by(MEDIA.c.id)
        .limit(1)
    ).first()
    return Media(bytes(row.data), str(row.mime_type)) if row is not None else None


def _archived_ref(connection: Connection, channel: str, chat_id: str, ref: str) -> str | None:
    number = connection.execute(
        select(MEDIA.c.id)
        .where(MEDIA.c.channel == channel, MEDIA.c.chat_id == chat_id, MEDIA.c.source_ref == ref)
        .order_by(MEDIA.c.id)
        .limit(1)
    ).scalar()
    return f"media:{number}" if number is not None else None


class MediaResolver:
    """Reads photos from the store and, through their channels, from the platforms (see the module docstring)."""

    def __init__(self, engine: Engine, sources: Mapping[str, object]) -> None:
        self._engine = engine
        self._sources = {name: source for name, source in sources.items() if isinstance(source, PhotoSource)}

    def fetches(self, channel: str) -> bool:
        """Whether photos of ``channel`` can be fetched here (its channel runs in this process)."""
        return channel in self._sources

    async def stored(self, ref: str) -> Media:
        """The bytes of ``media:<id>``; raises :class:`NotFound` for any other reference or a missing row."""
        number = media_id(ref)
        if number is None:
            raise NotFound(f"{ref!r} is not a photo Plaza stored")

        def read() -> Media | None:
            with self._engine.connect() as connection:
                return read_stored(connection, number)

        found = await anyio.to_thread.run_sync(read)
        if found is None:
            raise NotFound(f"there is no photo {ref}")
        return found

    async def resolve(self, ref: str, channel: str, *, chat_id: str | None = None) -> Media:
        """The bytes of ``ref``, a reference of ``channel`` (or ``media:<id>``).

        A platform photo fetched now is archived under ``(channel, chat_id)``
        when ``chat_id`` is given (the chat it was sent in).
        """
        if media_id(ref) is not None:
            return await self.stored(ref)

        def archived() -> Media | None:
            with self._engine.connect() as connection:
                return _archived(connection, channel, ref)

        found = await anyio.to_thread.run_sync(archived)
        if found is not None:
            return found
        media = await self._fetch(ref, channel)
        if chat_id is not None:

            def keep() -> None:
                with self._engine.begin() as connection:
                    if _archived_ref(connection, channel, chat_id, ref) is None:
                        store_media(connection, channel, chat_id, media, source_ref=ref)

            await anyio.to_thread.run_sync(keep)
        return media

    async def archive(self, ref: str, origin: str, channel: str, chat_id: str) -> str:
        """``ref`` of channel ``origin`` stored as a photo of the chat ``(channel, chat_id)``: its ``media:<id>``.

        Used to send a platform photo on to another platform (an official's
        Telegram photo to a resident on the web chat or Mastodon). The copy
        belongs to the recipient's chat (so the web chat may show it to them).
        """
        media = await self.resolve(ref, origin)

        def keep() -> str:
            with self._engine.begin() as connection:
                return store_media(connection, channel, chat_id, media)

        return await anyio.to_thread.run_sync(keep)

    async def _fetch(self, ref: str, channel: str) -> Media:
        source = self._sources.get(channel)
        if source is None:
            raise NotFound(f"photos of {channel} cannot be fetched here (the channel is not running)")
        data = await source.fetch_photo(ref)
        if len(data) > MAX_PHOTO_BYTES:
            raise NotFound(f"the photo from {channel} is larger than {MAX_PHOTO_BYTES} bytes")
        mime = sniff_image(data)
        if mime is None:
            raise NotFound(f"what {channel} gave for the photo is not an image")
        return Media(data, mime)
