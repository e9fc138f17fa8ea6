"""The one ASGI app: the public transparency page, web chat, health, Prometheus metrics (``/metrics``),
webhooks, Open311 and the officials' inbox."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio.to_thread
from sqlalchemy import text
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from adapters.web import WebChannel
from bot.errors import PlazaError
from bot.listener import DATABASE_TROUBLE, one_line
from bot.metrics import CONTENT_TYPE, render
from bot.runtime import Plaza
from bot.web.bodylimit import BodyLimit
from bot.web.chat import chat_routes
from bot.web.errors import database_trouble_handler, plaza_error_handler
from bot.web.ids import register_row_ids
from bot.web.inbox import inbox_routes
from bot.web.open311 import open311_routes
from bot.web.openapi import openapi_routes
from bot.web.privacy import privacy_routes
from bot.web.public import public_routes
from bot.web.webhooks import webhook_routes

__all__ = ["create_app"]

log = logging.getLogger(__name__)


def create_app(plaza: Plaza, web: WebChannel, *, manage_lifespan: bool = True, live_interval: float = 1.0) -> Starlette:
    """Build the app for a :class:`Plaza` that hosts the web channel ``web``.

    With ``manage_lifespan`` the app starts and stops ``plaza`` with the server;
    ``live_interval`` is how often the inbox's live views look for news (seconds).
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

    async def metrics(request: Request) -> Response:
        try:
            body = await anyio.to_thread.run_sync(render, plaza.database.reader, list(plaza.channels))
        except Exception as error:  # the backlogs need the database; this process's own metrics do not
            log.warning("metrics: the database cannot be reached (%s); backlogs left out", one_line(error))
            body = render(None)
        return Response(body, media_type=CONTENT_TYPE)

    register_row_ids()
    routes: list[BaseRoute] = [Route("/healthz", healthz), Route("/metrics", metrics)]
    routes.extend(public_routes(plaza))
    chat, _api = chat_routes(plaza, web)
    routes.extend(chat)
    routes.extend(webhook_routes(plaza))
    routes.extend(inbox_routes(plaza, live_interval=live_interval))
    routes.extend(open311_routes(plaza))
    routes.extend(privacy_routes(plaza))
    routes.extend(openapi_routes())

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if manage_lifespan:
            async with plaza:
                yield
        else:
            yield

    handlers: dict[Any, Any] = {PlazaError: plaza_error_handler}
    handlers.update(dict.fromkeys(DATABASE_TROUBLE, database_trouble_handler))
    return Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers=handlers,
        middleware=[Middleware(BodyLimit)],  # every body-carrying route has a size limit (bot.web.bodylimit)
    )
