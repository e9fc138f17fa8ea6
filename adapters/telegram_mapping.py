"""How Telegram's objects map to Plaza's: updates to messages, messages to Bot API calls, refusals to errors.

Pure functions over python-telegram-bot's types; :mod:`adapters.telegram`
does the I/O. Kept apart so the channel module stays about the channel.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from telegram import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from telegram.error import BadRequest, ChatMigrated, Forbidden, InvalidToken, NetworkError, RetryAfter, TelegramError

from adapters.base import split_text
from bot.errors import RetryLater, Undeliverable
from bot.messages import InboundMessage, Location, Option, OutboundMessage, Photo

__all__ = [
    "MAX_TEXT",
    "NAME",
    "button_press",
    "calls_for",
    "edited_message",
    "inbound_message",
    "pause_after",
    "send_error",
]

NAME = "telegram"
MAX_TEXT = 4096
MAX_CAPTION = 1024
MAX_CALLBACK_DATA = 64
TRANSIENT_RETRY = 5.0
"""Seconds to wait after a server error or a timeout (the outbox adds its own backoff on repeats)."""
UNSUPPORTED = (
    "sticker",
    "voice",
    "video_note",
    "video",
    "animation",
    "audio",
    "document",
    "contact",
    "venue",
    "poll",
    "dice",
    "game",
    "story",
)


def _sent_at(message: Message) -> datetime:
    return message.date.astimezone(UTC) if message.date else datetime.now(UTC)


def _base(key: str, message: Message, raw: Mapping[str, Any]) -> dict[str, Any]:
    user = message.from_user
    return {
        "channel": NAME,
        "platform_message_id": key,
        "sender_id": str(user.id if user else message.chat.id),
        "chat_id": str(message.chat.id),
        "sent_at": _sent_at(message),
        "language": user.language_code if user else None,
        "sender_name": user.full_name if user else None,
        "reply_to": str(message.reply_to_message.message_id) if message.reply_to_message else None,
        "raw": raw,
    }


def inbound_message(key: str, message: Message, raw: Mapping[str, Any]) -> InboundMessage:
    """A resident's message: a photo (largest size, caption as text), a location, text, or unsupported content."""
    fields = _base(key, message, raw)
    if message.photo:
        largest = max(message.photo, key=lambda size: (size.width * size.height, size.file_size or 0))
        return InboundMessage(**fields, text=message.caption, photos=(Photo(largest.file_id, "image/jpeg"),))
    if message.location is not None:
        location = Location(message.location.latitude, message.location.longitude)
        return InboundMessage(**fields, text=message.caption, location=location)
    if message.text is not None:
        return InboundMessage(**fields, text=message.text)
    kind = next((name for name in UNSUPPORTED if getattr(message, name, None)), "other")
    return InboundMessage(**fields, unsupported=kind)


def edited_message(key: str, message: Message, raw: Mapping[str, Any]) -> InboundMessage:
    """An edited message counts as a new message with the corrected text.

    The conversation has moved on since the original was answered and cannot
    be wound back; residents edit to fix a typo in what they just wrote, so the
    corrected text is most useful as their next answer (the current question
    takes it or asks again). Dropping it silently would leave the resident
    waiting for a reaction to their correction. Its key is the edit's own
    ``update_id``, so it is not confused with the original.
    """
    return inbound_message(key, message, raw)


def button_press(key: str, query: CallbackQuery, raw: Mapping[str, Any]) -> list[InboundMessage]:
    """An inline button pressed: its key as ``choice`` (a long key came as ``#n``: its label, or n, as text)."""
    origin = query.message if isinstance(query.message, Message) else None
    user = query.from_user
    chat_id = origin.chat.id if origin is not None else user.id
    fields: dict[str, Any] = {
        "channel": NAME,
        "platform_message_id": key,
        "sender_id": str(user.id),
        "chat_id": str(chat_id),
        "sent_at": datetime.now(UTC),
        "language": user.language_code,
        "sender_name": user.full_name,
        "raw": raw,
    }
    data = query.data
    if data is not None and not isinstance(data, str):
        raise TypeError(f"callback_query.data must be a string, not {type(data).__name__}")
    if not data:
        return [InboundMessage(**fields, unsupported="game")]
    if data.startswith("#") and data[1:].isdigit():
        # a long key travelled as its number; the button's label is the surest answer
        number = int(data[1:])
        label = _button_label(origin, data)
        return [InboundMessage(**fields, text=label if label is not None else str(number))]
    return [InboundMessage(**fields, choice=data)]


def _button_label(message: Message | None, data: str) -> str | None:
    markup = message.reply_markup if message is not None else None
    if markup is None:
        return None
    for row in markup.inline_keyboard:
        for button in row:
            if button.callback_data == data:
                return button.text
    return None


def _callback_data(number: int, option: Option) -> str:
    fits = 0 < len(option.key.encode()) <= MAX_CALLBACK_DATA and not option.key.startswith("#")
    return option.key if fits else f"#{number}"


def _keyboard(options: Sequence[Option]) -> InlineKeyboardMarkup | None:
    if not options:
        return None
    rows = [
        [InlineKeyboardButton(option.label, callback_data=_callback_data(number, option))]
        for number, option in enumerate(options, start=1)
    ]
    return InlineKeyboardMarkup(rows)


def calls_for(message: OutboundMessage) -> list[tuple[str, dict[str, Any]]]:
    """The Bot API calls that deliver ``message``, in order (the keyboard rides on the last)."""
    keyboard = _keyboard(message.options)
    text = message.text.strip()
    calls: list[tuple[str, dict[str, Any]]] = []
    if message.photo is not None:
        if len(text) <= MAX_CAPTION:
            return [("photo", {"photo": message.photo.ref, "caption": text or None, "reply_markup": keyboard})]
        calls.append(("photo", {"photo": message.photo.ref}))
    if not text and keyboard is not None:
        text = "·"  # Telegram refuses an empty text, and a keyboard needs a message to sit on
    if text:
        parts = split_text(text, MAX_TEXT)
        calls.extend(("text", {"text": part}) for part in parts[:-1])
        calls.append(("text", {"text": parts[-1], "reply_markup": keyboard}))
    return calls


def _seconds(value: int | float | timedelta) -> float:
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def _retry_after(error: RetryAfter) -> float:
    with warnings.catch_warnings():  # the int form is deprecated in favour of timedelta; either works here
        warnings.simplefilter("ignore")
        return _seconds(error.retry_after)


def pause_after(error: TelegramError, default: float) -> float:
    return max(default, _retry_after(error)) if isinstance(error, RetryAfter) else default


def send_error(error: TelegramError) -> RetryLater | Undeliverable:
    """Telegram's refusal as the outbox's kind of failure."""
    text = error.message
    if isinstance(error, RetryAfter):
        return RetryLater(NAME, _retry_after(error), text, rate_limited=True)
    if isinstance(error, Forbidden):  # blocked by the user, or the user deleted their account
        return Undeliverable(NAME, text, gone=True)
    if isinstance(error, ChatMigrated):
        return Undeliverable(NAME, f"the group moved to chat {error.new_chat_id}")
    if isinstance(error, BadRequest):  # before NetworkError: BadRequest is one
        return Undeliverable(NAME, text)
    if isinstance(error, InvalidToken):
        return RetryLater(NAME, 60.0, f"the bot token was refused ({text}); fix TELEGRAM_BOT_TOKEN")
    if isinstance(error, NetworkError):  # timeouts, 5xx, connection refused
        return RetryLater(NAME, TRANSIENT_RETRY, text)
    return RetryLater(NAME, TRANSIENT_RETRY, f"{type(error).__name__}: {text}")
