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
  5xx, timeouts);
- :attr:`MastodonServer.requests`: every API request the server answered
  (when, method, path, status), so a test can see what a client really sent.
"""

from __future__ import annotations

import html
import re
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
        self.requests: list[tuple[float, str, str, int, str]] = []
        """``(time.monotonic(), method, path, status, bearer token)`` of every request answered, oldest first."""

    def _recorded(self, app: Any) -> Any:
        """``app`` wrapped so that every HTTP request it answers is appended to :attr:`requests`."""

        async def recording(scope: Any, receive: Any, send: Any) -> None:
            if scope["type"] != "http":
                await app(scope, receive, send)
                return

            headers = dict(scope.get("headers") or [])
            token = headers.get(b"authorization", b"").decode("latin-1").removeprefix("Bearer ")

            async def send_recorded(message: Any) -> None:
                if message["type"] == "http.response.start":
                    self.requests.append((time.monotonic(), scope["method"], scope["path"], message["status"], token))
                await send(message)

            await app(scope, receive, send_recorded)

        return recording

    def start(self) -> Self:
        import mastodon_mock.app as mock_app
        import mastodon_mock.routers.statuses as statuses

        self._original_render = getattr(statuses, "render_status_html")  # noqa: B009 (not re-exported by the mock)
        setattr(statuses, "render_status_html", mastodon_html)  # noqa: B010
        create_app = mock_app.create_app
        mock_app.create_app = lambda *args, **kwargs: self._recorded(create_app(*args, **kwargs))
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
