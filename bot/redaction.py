"""Secrets never reach a log line: a logging filter that blanks them out of every record.

What is blanked, wherever it appears (message, arguments, ``extra=`` fields,
a traceback):

- the value of every secret in the environment: a variable whose name ends
  in ``TOKEN``, ``SECRET``, ``PASSWORD`` or ``KEY`` (``TELEGRAM_BOT_TOKEN``,
  ``TELEGRAM_WEBHOOK_SECRET``, ``X_CONSUMER_KEY``, ``X_ACCESS_TOKEN_SECRET``,
  ``MASTODON_ACCESS_TOKEN``, ``PLAZA_SECRET_KEY``...), and the password of
  ``PLAZA_DATABASE_URL``; plus any value given to :func:`add_secret` (the
  generated development key);
- what has the shape of a credential even when its value is unknown: a
  Telegram bot token (``123456:AA...``, which the Bot API puts in every URL),
  ``api_key=...`` in a query string, and the bearer parts of paths (a web
  chat's session id, a data-export link's token).

:class:`RedactSecrets` is attached to every handler Plaza's logging uses
(:func:`bot.logs.configure_logging`, and uvicorn's own in text mode), so a
library's record (httpx's ``HTTP Request: POST .../bot<token>/sendMessage``,
uvicorn's access line) is cleaned as well as ours.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from typing import Any

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

__all__ = ["MASK", "RedactSecrets", "add_secret", "redact", "secrets_from_env"]

MASK = "[redacted]"
_MIN_LENGTH = 6  # shorter values would blank ordinary words
_SECRET_NAME = re.compile(r"(TOKEN|SECRET|PASSWORD|KEY)$")
_SHAPES = (
    (re.compile(r"(?<![0-9])\d{5,}:[A-Za-z0-9_-]{30,}"), MASK),  # a Telegram bot token
    (re.compile(r"(?i)\b(api_key|access_token|secret_token|password)=[^&\s\"']+"), rf"\1={MASK}"),
    (re.compile(r"(/chat/api/)[A-Za-z0-9_-]{16,64}"), rf"\1{MASK}"),
    (re.compile(r"(/me/export/)[^/\s\"'?]+"), rf"\1{MASK}"),
)
_known: set[str] = set()


def secrets_from_env(environ: Mapping[str, str] | None = None) -> set[str]:
    """The secret values in the environment (see the module docstring)."""
    env = os.environ if environ is None else environ
    found = {value.strip() for name, value in env.items() if _SECRET_NAME.search(name.upper()) and value.strip()}
    url = env.get("PLAZA_DATABASE_URL")
    if url:
        try:
            password = make_url(url).password
        except ArgumentError:
            password = None
        if password:
            found.add(str(password))
    return {value for value in found if len(value) >= _MIN_LENGTH}


def add_secret(value: str) -> None:
    """Blank ``value`` from every log line from now on (a key generated or read at run time)."""
    if len(value) >= _MIN_LENGTH:
        _known.add(value)


def redact(text: str, secrets: set[str] | frozenset[str] = frozenset()) -> str:
    """``text`` with every secret and credential-shaped part replaced by :data:`MASK`."""
    for secret in sorted(secrets | _known, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, MASK)
    for pattern, replacement in _SHAPES:
        text = pattern.sub(replacement, text)
    return text


class RedactSecrets(logging.Filter):
    """Blanks secrets out of a record before any formatter sees it; never drops a record."""

    def __init__(self, name: str = "", environ: Mapping[str, str] | None = None) -> None:
        super().__init__(name)
        self.secrets = frozenset(secrets_from_env(environ))

    def _clean(self, value: Any) -> Any:
        if value is None or isinstance(value, bool | int | float):
            return value  # numbers stay numbers for ``%d``
        if isinstance(value, bytes | bytearray):
            return redact(bytes(value).decode("utf-8", "replace"), self.secrets)
        # any other object as it will be printed (httpx logs an ``httpx.URL``, which holds the bot token)
        text = str(value)
        cleaned = redact(text, self.secrets)
        return value if cleaned == text and not isinstance(value, str) else cleaned

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self._clean(record.msg) if isinstance(record.msg, str) else redact(str(record.msg), self.secrets)
        if isinstance(record.args, Mapping):
            record.args = {key: self._clean(value) for key, value in record.args.items()}
        elif record.args:
            record.args = tuple(self._clean(value) for value in record.args)
        if record.exc_info and record.exc_info[0] is not None:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info), self.secrets)
            record.exc_info = None
        elif record.exc_text:
            record.exc_text = redact(record.exc_text, self.secrets)
        if record.stack_info:
            record.stack_info = redact(record.stack_info, self.secrets)
        for key, value in list(record.__dict__.items()):
            if key not in _RECORD_FIELDS and isinstance(value, str):
                setattr(record, key, redact(value, self.secrets))
        return True


_RECORD_FIELDS = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}
