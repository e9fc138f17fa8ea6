"""``/webhooks/{channel}``: where platforms push events to a :class:`~adapters.base.WebhookChannel`.

The route is the same for every platform; what is platform-specific (secrets,
signatures, payload shapes, handshakes) is the adapter's ``challenge`` and
``parse``. The order is fixed: a handshake is answered first; otherwise the
request is verified and decoded (403/401 for a bad or missing secret, 400 for
a payload that is not one, both with a reason and nothing stored); then the
messages are stored in the inbox, and only then 200 is answered, so a
platform that gets no 200 delivers again and the inbox's dedup makes the
redelivery harmless. A database that cannot store the messages answers 503
with the reason (``the database cannot be reached``, ``database is
read-only``, ``disk full``), logged as one line with the driver's words; the
platform retries later and nothing was acknowledged.
"""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from adapters.base import WebhookChannel, WebhookRequest
from bot.errors import BadPayload, BadSignature
from bot.listener import DATABASE_TROUBLE
from bot.runtime import Plaza
from bot.web.errors import error_response
from models.db import storage_problem

__all__ = ["MAX_WEBHOOK_BYTES", "webhook_routes"]

log = logging.getLogger(__name__)

MAX_WEBHOOK_BYTES = 1024 * 1024
"""The largest body a platform may push (Telegram and X send far less)."""


def webhook_routes(plaza: Plaza) -> list[Route]:
    """The webhook route for every webhook channel ``plaza`` hosts."""

    async def webhook(request: Request) -> Response:
        name = request.path_params["channel"]
        channel = plaza.channels.get(name)
        if not isinstance(channel, WebhookChannel):
            return error_response(404, f"no webhook channel `{name}` here")
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > MAX_WEBHOOK_BYTES:
            return error_response(413, f"the body is larger than {MAX_WEBHOOK_BYTES} bytes")
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_WEBHOOK_BYTES:
                return error_response(413, f"the body is larger than {MAX_WEBHOOK_BYTES} bytes")
        incoming = WebhookRequest(
            method=request.method,
            headers={key.lower(): value for key, value in request.headers.items()},
            query=dict(request.query_params),
            body=body,
            path_params=dict(request.path_params),
        )
        try:
            handshake = channel.challenge(incoming)
            if handshake is not None:
                return Response(handshake.body, status_code=handshake.status, media_type=handshake.content_type)
            if request.method != "POST":
                return error_response(405, "events are POSTed")
            messages = channel.parse(incoming)
        except BadSignature as error:
            log.warning("webhook %s refused: %s", name, error.reason)
            return error_response(401 if error.missing else 403, error.reason)
        except BadPayload as error:
            return error_response(400, error.reason)
        try:
            if messages:
                await plaza.dispatch(messages)
        except DATABASE_TROUBLE as error:
            problem = storage_problem(error)
            log.error("webhook %s: %s; nothing stored, the platform will deliver again", name, problem)
            return error_response(503, f"{problem.partition(':')[0]}; deliver again later")
        return JSONResponse({"accepted": len(messages)})

    return [Route("/webhooks/{channel}", webhook, methods=["GET", "POST"])]
