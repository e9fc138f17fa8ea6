"""A Mastodon server for the tests: ``mastodon-mock`` (PyPI) seeded with Jun's bot and residents.

``mastodon-mock`` is a stateful Mastodon REST API (FastAPI + SQLite) that
Mastodon.py talks to over real HTTP. :class:`MastodonServer` runs one on a
loopback port in this process with:

- the bot ``@jun`` (local, ``JUN_TOKEN``), residents ``@maria`` and
  ``@pepe`` (local) and ``@ana@other.example`` (remote), each with a token so a
  test can post as them with Mastodon.py;
- the bot's notification policy at Mastodon 4.3's default (private mentions
  and limited accounts ``filter``), so the adapter must open it;
- status HTML rendered the way real Mastodon renders it (mentions as
  ``h-card`` spans, links split into ``invisible``/``ellipsis`` spans): the
  mock's own renderer leaves mentions as plain ``@name``, which would let a
  broken HTML-to-text pass;
- :meth:`fault` for the mock's fault injection (429 with rate-limit headers,
  5xx, timeouts; on ``/api/v1/streaming/user`` too, to refuse a stream);
- streaming (server-sent events, the mock's, with a heartbeat every 0.2 s)
  that a test can break: :meth:`streaming_off` (the server answers 404, as
  with streaming switched off, and drops the open streams),
  :meth:`drop_streams` (open streams end now, as when a connection drops)
  and :meth:`hush_streams` (open streams stay open but send nothing, not even
  heartbeats, as a half-dead connection);
- :meth:`late` for answers that come after a client's timeout;
- :attr:`MastodonServer.requests`: every API request the server answered
  (when, method, path, status), so a test can see what a client really sent.
"""

from __future__ import annotations

import asyncio
import html
import re
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Self

import httpx
from mastodon import Mastodon
from mastodon_mock.config import MastodonMockConfig, RateLimitConfig, SeedAccount, SeedConfig, StreamingConfig
from mastodon_mock.testing.server import MockServer

DOMAIN = "jun.example"
JUN_TOKEN = "jun-bot-token"
RESIDENTS = {"maria": None, "pepe": None, "ana": "other.example"}

STREAMING = "/api/v1/streaming/"
"""Where the streaming routes begin."""

_URL = re.compile(r"https?://[^\s<>\"]+")
_MENTION = re.compile(r"(?<![\w/])@([A-Za-z0-9_]+)(?:@([A-Za-z0-9_.-]+))?")


def mastodon_html(text: str) -> str:
    """Status text as real Mastodon serves it in ``content``."""

    def link(url: str) -> str:
        scheme, _, rest = url.partition("://")
        prefix = f"{scheme}://" + ("www." if rest.startswith("www.") else "")
        rest = rest.removeprefix("www.")
        shown, hidden = rest[:30], rest[30:]
        return (
            f'<a href="{html.escape(url)}" target="_blank" rel="nofollow noopener" translate="no">'
            f'<span class="invisible">{html.escape(prefix)}</span>'
            f'<span class="ellipsis">{html.escape(shown)}</span>'
            f'<span class="invisible">{html.escape(hidden)}</span></a>'
        )

    def mention(match: re.Match[str]) -> str:
        user, domain = match.group(1), match.group(2) or DOMAIN
        return (
            f'<span class="h-card" translate="no"><a href="https://{domain}/@{user}" class="u-url mention">'
            f"@<span>{user}</span></a></span>"
        )

    def line(raw: str) -> str:
        out, last = [], 0
        for match in _URL.finditer(raw):
            out.append(_MENTION.sub(mention, html.escape(raw[last : match.start()], quote=False)))
            out.append(link(match.group(0)))
            last = match.end()
        out.append(_MENTION.sub(mention, html.escape(raw[last:], quote=False)))
        return "".join(out)

    paragraphs = [p for p in re.split(r"\n\s*\n", text.strip()) if p]
    return "".join("<p>" + "<br />".join(line(raw) for raw in p.split("\n")) + "</p>" for p in paragraphs)


class MastodonServer:
    """mastodon-mock on a loopback port, seeded for Jun (see the module docstring)."""

    def __init__(self, residents: Mapping[str, str | None] = RESIDENTS, *, rate_limited: bool = False) -> None:
        """``residents``: username -> domain (None: local), each with the token ``<username>-token``;
        ``rate_limited``: the mock answers 429 past 300 requests per token in 5 minutes, as Mastodon does."""
        accounts = [SeedAccount(username="jun", display_name="Ayuntamiento de Jun", bot=True, access_token=JUN_TOKEN)]
        accounts += [
            SeedAccount(username=name, domain=domain, display_name=name.title(), access_token=f"{name}-token")
            for name, domain in residents.items()
        ]
        config = MastodonMockConfig(
            domain=DOMAIN,
            seed=SeedConfig(accounts=accounts),
            streaming=StreamingConfig(heartbeat_seconds=0.2),
            ratelimit=RateLimitConfig(enabled=rate_limited),
        )
        self._mock = MockServer(config=config)
        self.base_url = ""
        self._late: list[list[Any]] = []  # [path, seconds, how many more] (see late())
        self.requests: list[tuple[float, str, str, int, str]] = []
        """``(time.monotonic(), method, path, status, bearer token)`` of every request answered, oldest first."""
        self._app: Any = None
        self._bus: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._open_streams: set[asyncio.Event] = set()  # set one to drop its stream (on the server's loop)
        self._live_streams: set[asyncio.Event] = set()  # those the server accepted (200)
        self._hushed = threading.Event()

    def _recorded(self, app: Any) -> Any:
        """``app`` wrapped so that every HTTP request it answers is appended to :attr:`requests`."""

        async def recording(scope: Any, receive: Any, send: Any) -> None:
            if scope["type"] != "http":
                await app(scope, receive, send)
                return

            headers = dict(scope.get("headers") or [])
            token = headers.get(b"authorization", b"").decode("latin-1").removeprefix("Bearer ")

            late = next((rule for rule in self._late if rule[0] == scope["path"] and rule[2] > 0), None)
            if late is not None:
                late[2] -= 1

            async def send_recorded(message: Any) -> None:
                if message["type"] == "http.response.start" and late is not None:
                    await asyncio.sleep(late[1])  # the request was handled; only its answer is late
                if message["type"] == "http.response.start":
                    self.requests.append((time.monotonic(), scope["method"], scope["path"], message["status"], token))
                await send(message)

            if str(scope["path"]).startswith(STREAMING):
                await self._breakable_stream(app, scope, receive, send_recorded)
            else:
                await app(scope, receive, send_recorded)

        return recording

    async def _breakable_stream(self, app: Any, scope: Any, receive: Any, send: Any) -> None:
        """Serve a streaming request so that :meth:`drop_streams` and :meth:`hush_streams` can break it."""
        self._loop = asyncio.get_running_loop()
        dropped = asyncio.Event()
        started = False

        async def send_breakable(message: Any) -> None:
            nonlocal started
            if message["type"] == "http.response.body" and self._hushed.is_set():
                return  # a half-dead connection: nothing gets through
            if message["type"] == "http.response.start":
                started = True
                if message["status"] == 200:
                    self._live_streams.add(dropped)
            await send(message)

        self._open_streams.add(dropped)
        serving = asyncio.ensure_future(app(scope, receive, send_breakable))
        dropping = asyncio.ensure_future(dropped.wait())
        try:
            await asyncio.wait({serving, dropping}, return_when=asyncio.FIRST_COMPLETED)
            if serving.done():
                serving.result()
                return
            serving.cancel()
            try:
                await serving
            except asyncio.CancelledError:
                pass
            if started:  # end the response: the client sees the stream close
                await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            dropping.cancel()
            self._open_streams.discard(dropped)
            self._live_streams.discard(dropped)

    def start(self) -> Self:
        import mastodon_mock.app as mock_app
        import mastodon_mock.routers.statuses as statuses

        self._original_render = getattr(statuses, "render_status_html")  # noqa: B009 (not re-exported by the mock)
        setattr(statuses, "render_status_html", mastodon_html)  # noqa: B010
        create_app = mock_app.create_app

        def recorded_app(*args: Any, **kwargs: Any) -> Any:
            self._app = create_app(*args, **kwargs)
            self._bus = self._app.state.event_bus
            return self._recorded(self._app)

        mock_app.create_app = recorded_app
        try:
            self._mock.start()
        finally:
            mock_app.create_app = create_app
        self.base_url = self._mock.base_url
        self.http = httpx.Client(base_url=self.base_url, timeout=15.0)
        # Mastodon 4.3's default policy: private mentions from strangers are filtered.
        response = self.http.patch(
            "/api/v2/notifications/policy",
            json={"for_private_mentions": "filter", "for_limited_accounts": "filter"},
            headers={"Authorization": f"Bearer {JUN_TOKEN}"},
        )
        response.raise_for_status()
        return self

    def stop(self) -> None:
        import mastodon_mock.routers.statuses as statuses

        self.http.close()
        self._mock.stop()
        setattr(statuses, "render_status_html", self._original_render)  # noqa: B010

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- breaking the stream -------------------------------------------------

    def streams_open(self) -> int:
        """How many streams the server is serving now (accepted, not yet ended)."""
        return len(self._live_streams)

    def drop_streams(self, timeout: float = 10.0) -> None:
        """End every open stream now (the client sees its connection close); returns when they are gone."""
        loop = self._loop

        def drop() -> None:
            for dropped in list(self._open_streams):
                dropped.set()

        if loop is not None:
            loop.call_soon_threadsafe(drop)
        deadline = time.monotonic() + timeout
        while self._open_streams:
            assert time.monotonic() < deadline, "the streams did not end"
            time.sleep(0.01)

    @contextmanager
    def streaming_off(self) -> Iterator[None]:
        """Streaming switched off: open streams end and new ones get 404, until the block ends."""
        self._app.state.event_bus = None
        try:
            self.drop_streams()
            yield
        finally:
            self._app.state.event_bus = self._bus

    @contextmanager
    def hush_streams(self) -> Iterator[None]:
        """Open streams send nothing (no events, no heartbeats) until the block ends; what they miss is lost."""
        self._hushed.set()
        try:
            yield
        finally:
            self._hushed.clear()

    def client(self, username: str) -> Mastodon:
        """Mastodon.py logged in as a seeded account (``jun`` or a resident)."""
        token = JUN_TOKEN if username == "jun" else f"{username}-token"
        return Mastodon(access_token=token, api_base_url=self.base_url, request_timeout=15.0)

    def policy(self) -> dict[str, Any]:
        response = self.http.get("/api/v2/notifications/policy", headers={"Authorization": f"Bearer {JUN_TOKEN}"})
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        return body

    def bot_statuses(self) -> list[Any]:
        """Everything the bot posted, oldest first."""
        bot = self.client("jun")
        me = bot.account_verify_credentials()
        return sorted(bot.account_statuses(me["id"], limit=40), key=lambda s: int(s["id"]))

    def replies_to(self, username: str) -> list[Any]:
        """The bot's statuses that mention ``username`` (as the resident's own client sees them), oldest first."""
        resident = self.client(username)
        mentions = resident.notifications(types=["mention"], limit=40)
        statuses = [n["status"] for n in mentions if n["account"]["username"] == "jun"]
        return sorted(statuses, key=lambda s: int(s["id"]))

    def wait_replies(self, username: str, count: int, timeout: float = 20.0) -> list[Any]:
        deadline = time.monotonic() + timeout
        while True:
            replies = self.replies_to(username)
            if len(replies) >= count:
                return replies
            assert time.monotonic() < deadline, f"{username} got {len(replies)} replies, expected {count}: {replies}"
            time.sleep(0.1)

    def requests_to(self, method: str, path: str, token: str | None = None) -> list[tuple[float, int]]:
        """``(time.monotonic(), status)`` of the requests ``method path`` (made with ``token``) answered so far."""
        return [
            (at, status)
            for at, m, p, status, used in list(self.requests)
            if m == method and p == path and token in (None, used)
        ]

    @contextmanager
    def late(self, *, path: str, seconds: float, count: int) -> Iterator[None]:
        """The next ``count`` requests to ``path`` are handled at once but answered ``seconds`` later: a client
        with a shorter timeout gives up although what it asked for was done (a status created)."""
        rule = [path, seconds, count]
        self._late.append(rule)
        try:
            yield
        finally:
            if rule in self._late:
                self._late.remove(rule)

    @contextmanager
    def fault(self, *, path: str, status: int, count: int, headers: dict[str, str] | None = None) -> Iterator[str]:
        """Make the next ``count`` requests to ``path`` (any method) fail with ``status``."""
        effect: dict[str, Any] = {"type": "ratelimit" if status == 429 else "status", "status": status}
        if headers is not None:
            effect["headers"] = headers
        rule_spec = {"match": {"path": path}, "effect": effect, "count": count}
        response = self.http.post("/api/v1/_mock/faults", json=rule_spec)
        response.raise_for_status()
        rule = str(response.json()["id"])
        try:
            yield rule
        finally:
            self.http.delete(f"/api/v1/_mock/faults/{rule}")
