"""Every route that takes a body refuses one over its limit with 413 and a reason, before anything is stored.

The routes come from the app itself, so a route added later is covered: every
POST is sent a body over its limit (declared in ``Content-Length``) and must answer
413 with a JSON reason; a chunked body without a length is cut off at the
limit (413) too; a body under the limit is never refused for its size.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest
from starlette.routing import Route

from adapters.web import WebChannel
from bot.config import Config
from bot.runtime import Plaza
from bot.web.app import create_app
from bot.web.bodylimit import DEFAULT_LIMIT, PHOTO_LIMIT, limit_for
from models.db import Database
from tests.support.scale import rows
from tests.support.server import AppServer

SAMPLE = {"session": "a" * 24, "channel": "telegram", "format": "json", "rest": "x", "action": "reply"}


def post_paths(routes: list[object]) -> list[str]:
    """A concrete path for every route that takes POST (``{id:int}`` → 1, ``{session}`` → a valid one...)."""
    found: list[str] = []
    for route in routes:
        if isinstance(route, Route) and route.methods and "POST" in route.methods:

            def fill(match: re.Match[str]) -> str:
                name, _, kind = match.group(1).partition(":")
                return "1" if kind == "int" else SAMPLE.get(name, "x")

            found.append(re.sub(r"\{([^}]+)\}", fill, route.path))
    return found


@pytest.fixture
def served(config: Config, sqlite: Database) -> Iterator[tuple[httpx.Client, list[str]]]:
    web = WebChannel()
    plaza = Plaza(config, [web], database=sqlite)
    app = create_app(plaza, web, manage_lifespan=False)
    with AppServer(app) as server, httpx.Client(base_url=server.base_url, timeout=30.0) as client:
        yield client, post_paths(app.routes)


def test_the_limits_are_the_documented_ones() -> None:
    assert limit_for("/chat/api/abc/messages") == PHOTO_LIMIT > 10 * 1024 * 1024
    assert limit_for("/open311/v2/requests.json") == PHOTO_LIMIT
    assert limit_for("/inbox/login") == limit_for("/webhooks/telegram") == DEFAULT_LIMIT == 1024 * 1024


def test_every_post_route_refuses_a_body_over_its_limit(
    served: tuple[httpx.Client, list[str]], sqlite: Database
) -> None:
    client, paths = served
    assert {"/inbox/login", "/chat/api/" + SAMPLE["session"] + "/messages", "/webhooks/telegram"} <= set(paths)
    assert len(paths) >= 10, paths
    for path in paths:
        too_big = b"x" * (limit_for(path) + 1)
        declared = client.post(path, content=too_big, headers={"content-type": "application/x-www-form-urlencoded"})
        assert declared.status_code == 413, (path, declared.status_code, declared.text[:200])
        assert "larger than" in declared.json()["error"]
    assert rows(sqlite, "SELECT count(*) FROM inbox")[0][0] == 0, "nothing was stored"


def test_a_streamed_body_is_cut_off_at_the_limit(served: tuple[httpx.Client, list[str]]) -> None:
    """Chunked, with no Content-Length: the middleware counts what arrives."""
    client, _ = served
    too_big = b"x" * (DEFAULT_LIMIT + 1)

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(too_big), 256 * 1024):
            yield too_big[start : start + 256 * 1024]

    streamed = client.post(
        "/inbox/login", content=chunks(), headers={"content-type": "application/x-www-form-urlencoded"}
    )
    assert streamed.status_code == 413, streamed.text[:200]
    assert "larger than 1 MB" in streamed.json()["error"]


def test_a_body_under_the_limit_is_not_refused_for_its_size(served: tuple[httpx.Client, list[str]]) -> None:
    client, _ = served
    answer = client.post("/inbox/login", content=b"username=a&password=" + b"x" * 900_000)
    assert answer.status_code != 413
