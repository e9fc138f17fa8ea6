"""Where Plaza's errors become HTTP answers (the one place that maps them)."""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from bot.errors import BadPayload, BadSignature, Conflict, Invalid, NotAllowed, NotFound, PlazaError
from models.db import storage_problem

__all__ = ["database_trouble_handler", "error_response", "plaza_error_handler"]

log = logging.getLogger(__name__)


def error_response(status: int, reason: str) -> JSONResponse:
    return JSONResponse({"error": reason}, status_code=status)


async def plaza_error_handler(request: Request, exc: Exception) -> Response:
    """BadPayload and Invalid → 400, BadSignature → 401 (nothing sent) or 403, NotAllowed → 403, NotFound → 404,
    Conflict → 409; anything else of ours → 500, no details."""
    if isinstance(exc, BadPayload | Invalid):
        return error_response(400, exc.reason)
    if isinstance(exc, NotAllowed):
        return error_response(403, exc.reason)
    if isinstance(exc, NotFound):
        return error_response(404, exc.reason)
    if isinstance(exc, Conflict):
        return error_response(409, exc.reason)
    if isinstance(exc, BadSignature):
        return error_response(401 if exc.missing else 403, exc.reason)
    if isinstance(exc, PlazaError):
        return error_response(500, "internal error; it has been logged")
    raise exc


async def database_trouble_handler(request: Request, exc: Exception) -> Response:
    """The database cannot be reached, is read-only or its disk is full: 503 with that reason, one log line,
    never a stack trace (the web chat keeps the message and tries again)."""
    problem = storage_problem(exc)
    log.error("%s %s: %s", request.method, request.url.path, problem)
    return error_response(503, f"{problem.partition(':')[0]}; try again later")
