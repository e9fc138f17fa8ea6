"""The largest request body each route takes: 413 with a reason, before a handler reads too much.

Every request that carries a body (POST, PUT, PATCH, DELETE) is held to a
limit by its path: the web chat's message API and Open311's ``requests``
take a photo (10 MB and a little room for the form around it); everything
else, the inbox's forms, the login and the webhooks, at most 1 MB. A
declared ``Content-Length`` over the limit is refused at once; a body that
streams past it (chunked, or a lying header) is cut off at the limit, and
if the handler has not answered yet the client gets the same 413. Handlers
keep their own, smaller limits (the chat's JSON at 64 KB, a form's fields).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from adapters.web import MAX_PHOTO_BYTES
from bot.web.errors import error_response

__all__ = ["DEFAULT_LIMIT", "PHOTO_LIMIT", "BodyLimit", "limit_for"]

DEFAULT_LIMIT = 1024 * 1024
"""Forms, logins, webhooks: far more than any of them needs."""

PHOTO_LIMIT = MAX_PHOTO_BYTES + 64 * 1024
"""A photo of at most 10 MB and the multipart form around it."""

PHOTO_ROUTES: Sequence[str] = ("/chat/api/", "/open311/")
"""Path prefixes whose POSTs may carry a photo."""

_PHOTO_PATHS = re.compile(r"/inbox/requests/[0-9]+/status")
"""Whole paths whose POSTs may carry a photo: an official's status change with its photo."""

_READ_ONLY = frozenset({"GET", "HEAD", "OPTIONS"})


def limit_for(path: str) -> int:
    """The largest body ``path`` takes, in bytes."""
    if path.startswith(tuple(PHOTO_ROUTES)) or _PHOTO_PATHS.fullmatch(path):
        return PHOTO_LIMIT
    return DEFAULT_LIMIT


def _describe(limit: int) -> str:
    return f"{limit // (1024 * 1024)} MB" if limit >= 1024 * 1024 else f"{limit // 1024} KB"


class _TooLarge(Exception):
    """The body streamed past the limit."""


class BodyLimit:
    """ASGI middleware: refuse bodies over :func:`limit_for` the path with 413 and a reason."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in _READ_ONLY:
            await self.app(scope, receive, send)
            return
        limit = limit_for(scope["path"])
        reason = f"the request body is larger than {_describe(limit)}, the most this address takes"
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > limit:
            await error_response(413, reason)(scope, receive, send)
            return
        received = 0
        answered = False

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _TooLarge()
            return message

        async def watched(message: Message) -> None:
            nonlocal answered
            if message["type"] == "http.response.start":
                answered = True
            await send(message)

        try:
            await self.app(scope, limited, watched)
        except _TooLarge:
            if answered:
                raise
            await error_response(413, reason)(scope, receive, send)
