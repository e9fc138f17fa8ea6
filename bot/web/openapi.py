"""``GET /openapi.json``: the OpenAPI 3 description of Plaza's public HTTP endpoints (``openapi.json`` beside this).

The file is written by hand and checked against the running app by
``tests/web/test_openapi.py`` (schemathesis): every documented status and
content type is what the app answers.
"""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

__all__ = ["OPENAPI_FILE", "openapi_routes"]

OPENAPI_FILE = Path(__file__).resolve().parent / "openapi.json"


def openapi_routes() -> list[Route]:
    async def description(request: Request) -> Response:
        return Response(OPENAPI_FILE.read_bytes(), media_type="application/json")

    return [Route("/openapi.json", description, methods=["GET"])]
