"""A resident's data download: ``GET /me/export/{token}`` (the link the bot gives for "mis datos").

The token is single-use and lives 24 hours (:mod:`bot.privacy`). A valid one
answers ``200`` with a JSON file (``Content-Disposition: attachment``) of the
resident's conversations, messages, requests, subscriptions and appointments;
an unknown, used or expired one answers ``404`` with a reason, the same for
all three so a guess learns nothing. Responses are never cached and never
send a referrer.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from bot import privacy
from bot.runtime import Plaza
from bot.web.errors import error_response

__all__ = ["privacy_routes"]

_HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Content-Type-Options": "nosniff"}
_GONE = "this link is not valid, was already used or has expired; write «mis datos» to the bot for a new one"


def privacy_routes(plaza: Plaza) -> list[BaseRoute]:
    """The routes of the residents' own data."""

    def claim(token: str) -> dict[str, Any] | None:
        with plaza.database.writer.begin() as connection:
            return privacy.claim_export(connection, token, datetime.now(UTC))

    async def export(request: Request) -> Response:
        token = str(request.path_params["token"])
        data = await anyio.to_thread.run_sync(claim, token) if 20 <= len(token) <= 100 else None
        if data is None:
            response = error_response(404, _GONE)
            response.headers.update(_HEADERS)
            return response
        body = json.dumps(data, ensure_ascii=False, indent=2).encode()
        headers = {**_HEADERS, "Content-Disposition": 'attachment; filename="plaza-my-data.json"'}
        return Response(body, media_type="application/json", headers=headers)

    return [Route("/me/export/{token}", export, methods=["GET"])]
