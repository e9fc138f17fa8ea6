"""Plaza's one exception tree.

::

    PlazaError
    ├── ConfigError(path, line, key, hint)   `plaza` prints it and exits 2
    ├── FlowError(path, line, state, hint)   `plaza flows validate`; the server keeps the last good flow
    ├── SchemaError(hint)                    the database is not at the code's migration
    ├── StorageError(problem)                the database cannot take writes (read-only, disk full)
    ├── OfficialError(reason)                an official's action cannot be done
    │   ├── NotAllowed                       HTTP 403 (not their department, not their role)
    │   ├── NotFound                         HTTP 404
    │   └── Conflict                         HTTP 409 (taken by someone else, already resolved)
    └── ChannelError(channel)
        ├── BadPayload                       HTTP 400
        ├── BadSignature                     HTTP 403 (401 when no credential was sent)
        └── SendError
            ├── RetryLater(retry_after)      the outbox backs off, same row
            │   └── PartlySent(sent, total)  a part went; the rest after the chat's pace, no backoff
            └── Undeliverable(reason, gone)  the row fails; shown to officials

Every exception carries its data as attributes and reads well when printed.
HTTP statuses are mapped in ``bot.web.errors``; exit codes in ``bot.cli``.
Imports nothing of Plaza.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "BadPayload",
    "BadSignature",
    "ChannelError",
    "ConfigError",
    "Conflict",
    "FlowError",
    "FlowErrors",
    "NotAllowed",
    "NotFound",
    "OfficialError",
    "PartlySent",
    "PlazaError",
    "RetryLater",
    "SchemaError",
    "SendError",
    "StorageError",
    "Undeliverable",
]


class PlazaError(Exception):
    """Base of every error Plaza raises on purpose."""


def _where(path: str, line: int | None) -> str:
    return f"{path}:{line}" if line is not None else path


class ConfigError(PlazaError):
    """config.yaml (or an environment variable) is wrong.

    Printed as ``file:line: key: what is wrong — fix``.
    """

    def __init__(self, path: str, line: int | None, key: str, problem: str, hint: str = "") -> None:
        self.path = path
        self.line = line
        self.key = key
        self.problem = problem
        self.hint = hint
        super().__init__(str(self))

    def __str__(self) -> str:
        text = f"{_where(self.path, self.line)}: {self.key}: {self.problem}"
        return f"{text} — {self.hint}" if self.hint else text


class FlowError(PlazaError):
    """One problem in a flow file, printed as ``file:line: problem — fix``."""

    def __init__(self, path: str, line: int | None, problem: str, hint: str = "", state: str | None = None) -> None:
        self.path = path
        self.line = line
        self.problem = problem
        self.hint = hint
        self.state = state
        super().__init__(str(self))

    def __str__(self) -> str:
        text = f"{_where(self.path, self.line)}: {self.problem}"
        return f"{text} — {self.hint}" if self.hint else text


class FlowErrors(PlazaError):
    """Every problem found in a set of flow files, in file and line order."""

    def __init__(self, errors: Sequence[FlowError]) -> None:
        self.errors = tuple(sorted(errors, key=lambda e: (e.path, e.line or 0, e.problem)))
        super().__init__(str(self))

    def __str__(self) -> str:
        return "\n".join(str(e) for e in self.errors)


class SchemaError(PlazaError):
    """The database schema is not the one this code expects."""

    def __init__(self, hint: str) -> None:
        self.hint = hint
        super().__init__(hint)


class StorageError(PlazaError):
    """The database answers but cannot store anything: read-only, or its disk is full.

    ``problem`` starts with what is wrong (``database is read-only: ...``,
    ``disk full: ...``) and ends with what to do.
    """

    def __init__(self, problem: str) -> None:
        self.problem = problem
        super().__init__(problem)


class OfficialError(PlazaError):
    """An official asked for something that cannot be done; ``reason`` says why, in plain words."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class NotAllowed(OfficialError):
    """Not this official's department or role (HTTP 403)."""


class NotFound(OfficialError):
    """No such conversation, request or official, or not one this official may know of (HTTP 404)."""


class Invalid(OfficialError):
    """What the official wrote cannot be used as it is: an empty reply, one too long (HTTP 400)."""


class Conflict(OfficialError):
    """The thing changed under the official: taken by someone else, already resolved (HTTP 409)."""


class ChannelError(PlazaError):
    """Something went wrong talking to or hearing from one channel."""

    def __init__(self, channel: str, message: str) -> None:
        self.channel = channel
        super().__init__(f"{channel}: {message}")


class BadPayload(ChannelError):
    """The request could not be decoded into messages (HTTP 400)."""

    def __init__(self, channel: str, reason: str) -> None:
        self.reason = reason
        super().__init__(channel, reason)


class BadSignature(ChannelError):
    """The request's secret or signature is missing or wrong.

    ``missing`` is true when no credential was sent at all (HTTP 401);
    otherwise HTTP 403.
    """

    def __init__(self, channel: str, reason: str, *, missing: bool = False) -> None:
        self.reason = reason
        self.missing = missing
        super().__init__(channel, reason)


class SendError(ChannelError):
    """A message could not be sent now."""


class RetryLater(SendError):
    """The platform asked us to wait ``retry_after`` seconds (or it failed transiently)."""

    def __init__(self, channel: str, retry_after: float, reason: str = "", *, rate_limited: bool = False) -> None:
        self.retry_after = retry_after
        self.reason = reason
        self.rate_limited = rate_limited
        """True when the platform said 429 (too many requests), not a transient failure."""
        super().__init__(channel, f"retry after {retry_after:g}s" + (f": {reason}" if reason else ""))


class PartlySent(RetryLater):
    """``sent`` of the ``total`` parts of a split message went; the next may go after ``retry_after`` seconds.

    Not a failure: a platform that allows one message per chat per interval
    (Telegram, about one a second) gets the parts of a long message one per
    send, paced like separate messages. The adapter remembers which parts are
    done and sends the next one when the outbox sends the message again; the
    outbox waits only that chat, counts no failed attempt, and sends other
    chats meanwhile.
    """

    def __init__(self, channel: str, retry_after: float, sent: int, total: int) -> None:
        self.sent = sent
        self.total = total
        super().__init__(channel, retry_after, f"{sent} of {total} parts sent")


class Undeliverable(SendError):
    """The platform refused the message for good (bot blocked, account gone, ...).

    ``gone`` is set when the platform says the recipient's account can never be
    reached again (deleted, deactivated, blocked the bot): their subscriptions
    are then removed.
    """

    def __init__(self, channel: str, reason: str, *, gone: bool = False) -> None:
        self.reason = reason
        self.gone = gone
        super().__init__(channel, f"undeliverable: {reason}")
