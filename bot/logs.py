"""Logging for the ``plaza`` command: readable lines by default, one JSON object per line on request.

``PLAZA_LOG_FORMAT=json`` writes each record as one JSON object with
``time`` (ISO 8601, UTC), ``level``, ``logger`` and ``message``, plus the
context a caller passed with ``extra=`` (``conversation_id``, ``channel``,
``chat_id``, ``inbox_id``, ``worker``...) and ``exception`` (the formatted
traceback, inside the one line) when there is one. Anything else keeps the
classic ``time level logger: message`` text. ``PLAZA_LOG_LEVEL`` sets the level.
Either way, secrets are blanked out first (:class:`bot.redaction.RedactSecrets`).
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from bot.redaction import RedactSecrets

__all__ = ["LOG_FORMAT_ENV", "JsonFormatter", "configure_logging", "uvicorn_log_config"]

LOG_FORMAT_ENV = "PLAZA_LOG_FORMAT"
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

# The attributes every LogRecord has; anything else on a record came from ``extra=``.
_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
    "message",
    "asctime",
    "taskName",
    "color_message",  # uvicorn's ANSI-coloured copy of the message
}


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_") and key not in entry:
                entry[key] = value if isinstance(value, (str, int, float, bool, type(None))) else str(value)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(default_level: str, environ: Mapping[str, str] | None = None) -> None:
    """Set up the root logger on stderr from ``PLAZA_LOG_LEVEL`` and ``PLAZA_LOG_FORMAT``."""
    env = os.environ if environ is None else environ
    handler = logging.StreamHandler(sys.stderr)
    if env.get(LOG_FORMAT_ENV, "").strip().lower() == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    handler.addFilter(RedactSecrets(environ=env))
    logging.basicConfig(level=env.get("PLAZA_LOG_LEVEL", default_level), handlers=[handler], force=True)
    for chatty in ("transitions", "alembic"):
        logging.getLogger(chatty).setLevel(logging.WARNING)


def uvicorn_log_config(base: Mapping[str, Any]) -> dict[str, Any]:
    """uvicorn's own text logging config (``base``) with secrets blanked out of its handlers' records."""
    config = {key: (dict(value) if isinstance(value, Mapping) else value) for key, value in base.items()}
    config["filters"] = {**dict(base.get("filters") or {}), "redact_secrets": {"()": RedactSecrets}}
    handlers = {}
    for name, handler in dict(base.get("handlers") or {}).items():
        handlers[name] = {**handler, "filters": [*handler.get("filters", []), "redact_secrets"]}
    config["handlers"] = handlers
    return config
