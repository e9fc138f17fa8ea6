"""The server's secret key, and the keyed hashes made with it (ID numbers, verification codes).

The key comes from ``PLAZA_SECRET_KEY`` (:attr:`bot.config.Config.secret_key`).
Without it, on a SQLite database (development, a small town's one machine),
a key is generated once into ``secret.key`` beside the database file
(``var/secret.key`` for the default ``var/plaza.sqlite3``) with 0600
permissions, and a warning says so; on any other database a missing key is a
:class:`~bot.errors.ConfigError`. Losing the key makes every stored ID hash
and live code useless (residents must be registered again), so keep it with
the database's backups, not in it.

Hashes are HMAC-SHA256 over ``purpose`` and the value, so a number hashed for
one purpose never matches another purpose's hash.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Connection
from sqlalchemy.engine import make_url

from bot.config import Config
from bot.errors import ConfigError
from bot.redaction import add_secret

__all__ = ["KEY_FILE", "KeyedHash", "SecretKeys"]

log = logging.getLogger(__name__)

KEY_FILE = "secret.key"
MIN_LENGTH = 16
_MAKE_ONE = "`python -c 'import secrets; print(secrets.token_hex(32))'`"


@dataclass(frozen=True, slots=True)
class KeyedHash:
    """HMAC-SHA256 with the server's key."""

    key: bytes

    def digest(self, purpose: str, value: str) -> str:
        """The hex HMAC of ``value`` for ``purpose`` (``document``, ``code``...)."""
        return hmac.new(self.key, f"{purpose}\0{value}".encode(), hashlib.sha256).hexdigest()

    def matches(self, purpose: str, value: str, stored: str) -> bool:
        """Whether ``value`` hashes to ``stored``, compared in constant time."""
        return hmac.compare_digest(self.digest(purpose, value), stored)


class SecretKeys:
    """Finds (or, in development, makes) the key for a database; one per engine, thread-safe."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self._found: dict[str, KeyedHash] = {}
        self._lock = threading.Lock()

    def for_connection(self, connection: Connection) -> KeyedHash:
        """The key for the database ``connection`` is on."""
        return self.for_url(connection.engine.url.render_as_string(hide_password=False))

    def for_url(self, url: str) -> KeyedHash:
        """The key for the database at ``url``."""
        with self._lock:
            found = self._found.get(url)
            if found is None:
                found = KeyedHash(self._load(url))
                self._found[url] = found
            return found

    def _load(self, url: str) -> bytes:
        if self.config.secret_key:
            if len(self.config.secret_key) < MIN_LENGTH:
                raise ConfigError(
                    "environment",
                    None,
                    "PLAZA_SECRET_KEY",
                    f"too short ({len(self.config.secret_key)} characters)",
                    f"use a long random string, e.g. the output of {_MAKE_ONE}",
                )
            return self.config.secret_key.encode()
        parsed = make_url(url)
        if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
            raise ConfigError(
                "environment",
                None,
                "PLAZA_SECRET_KEY",
                "not set",
                f"set it to a long random string ({_MAKE_ONE}) and keep it with the database's backups",
            )
        key = _development_key(Path(parsed.database).resolve().parent / KEY_FILE)
        add_secret(key.decode("ascii", "replace"))  # never in a log line
        return key


def _development_key(path: Path) -> bytes:
    """Read ``path``, or create it with a new random key (0600) the first time."""
    try:
        return path.read_text(encoding="ascii").strip().encode()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first: use theirs
        return path.read_text(encoding="ascii").strip().encode()
    with os.fdopen(descriptor, "w", encoding="ascii") as handle:
        handle.write(key + "\n")
    log.warning(
        "PLAZA_SECRET_KEY is not set: generated a development secret key in %s (mode 0600). "
        "Set PLAZA_SECRET_KEY in production, and keep the key with the database's backups",
        path,
    )
    return key.encode()
