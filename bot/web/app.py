"""The one ASGI app: web chat, health, and (later) webhooks, inbox, Open311 and public pages."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio.to_thread
from sqlalchemy import text
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from adapters.web import WebChannel
from bot.errors import PlazaError
from bot.runtime import Plaza
from bot.web.chat import chat_routes
from bot.web.errors import plaza_error_handler
from bot.web.privacy import privacy_routes
from bot.web.webhooks import webhook_routes

__all__ = ["create_app"]

log = logging.getLogger(__name__)


def create_app(plaza: Plaza, web: WebChannel, *, manage_lifespan: bool = True) -> Starlette:
    """Build the app for a :class:`Plaza` that hosts the web channel ``web``.

    With ``manage_lifespan`` the app starts and stops ``plaza`` with the server.
    """

    async def healthz(request: Request) -> Response:
        def ping() -> None:
            with plaza.database.reader.connect() as connection:
                connection.execute(text("SELECT 1"))

        try:
            await anyio.to_thread.run_sync(ping)
        except Exception as error:
            log.warning("health check: database unreachable: %s", error)
            return JSONResponse({"status": "unavailable", "database": "unreachable"}, status_code=503)
        return JSONResponse({"status": "ok", "database": "ok", "town": plaza.config.town_name})

    async def home(request: Request) -> Response:
        return RedirectResponse("/chat", status_code=307)

    routes: list[BaseRoute] = [Route("/healthz", healthz), Route("/", home)]
    chat, _api = chat_routes(plaza, web)
    routes.extend(chat)
    routes.extend(webhook_routes(plaza))
    routes.extend(privacy_routes(plaza))

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if manage_lifespan:
            async with plaza:
                yield
        else:
            yield

    return Starlette(routes=routes, lifespan=lifespan, exception_handlers={PlazaError: plaza_error_handler})
