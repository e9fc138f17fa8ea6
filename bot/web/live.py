"""Live updates for the inbox as server-sent events.

The server polls the database about once a second (``interval``) for what is
newer than what the page already shows, and sends it as rendered, escaped
HTML in JSON:

- ``GET /inbox/conversations/{id}/events?after=CURSOR``: ``entries`` (new
  history lines, with the cursor as the event id, so a reconnecting
  ``EventSource`` resumes through ``Last-Event-ID``) and ``state`` (the
  conversation's status line changed).
- ``GET /inbox/events?which=Q&department=D``: ``queue`` (the queue's table,
  whenever a handoff moved or a resident wrote in an open one).

Both re-check the session on every poll: a logged-out or disabled official
gets ``logout`` and the stream ends. A stream also ends after
:data:`MAX_STREAM` seconds; the browser reconnects by itself.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import anyio.to_thread
from sqlalchemy import Connection
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from bot.errors import NotFound
from bot.history import Cursor, conversation_view, entries
from bot.queues import QUEUES, queue, queue_mark
from bot.sessions import Session, session_for
from bot.web.auth import COOKIE

if TYPE_CHECKING:
    from bot.web.inbox import Inbox

__all__ = ["MAX_STREAM", "Live"]

MAX_STREAM = 300.0
PING_EVERY = 15.0


def _event(name: str, data: dict[str, Any], event_id: str | None = None) -> str:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {name}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


class Live:
    """The inbox's two event streams."""

    def __init__(self, inbox: Inbox, *, interval: float = 1.0) -> None:
        self.inbox = inbox
        self.interval = interval

    def _stream(self, events: AsyncIterator[str]) -> Response:
        return StreamingResponse(
            events,
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    async def _poll(self, request: Request, work: Callable[[Connection, Session], Any]) -> Any:
        """Re-check the session and run ``work`` in one read; None when the session is gone."""
        token = request.cookies.get(COOKIE)
        database = self.inbox.plaza.database

        def run() -> Any:
            with database.reader.connect() as connection:
                session = session_for(connection, token)
                if session is None:
                    return None
                return (work(connection, session),)

        found = await anyio.to_thread.run_sync(run)
        return found

    async def conversation_events(self, request: Request, session: Session) -> Response:
        conversation_id = request.path_params["conversation_id"]
        cursor = Cursor.parse(request.headers.get("last-event-id") or request.query_params.get("after"))
        inbox = self.inbox
        handoffs = inbox.handoffs()
        language = inbox.pages.language(request, session.official.language)

        def check(connection: Connection, current: Session) -> None:
            handoffs.visible(connection, inbox.auth.actor(current), conversation_id)

        if await self._poll(request, check) is None:  # raises NotFound before the stream starts
            return Response("log in again", status_code=401)

        async def events() -> AsyncIterator[str]:
            nonlocal cursor
            loop = asyncio.get_running_loop()
            started = last_sent = loop.time()
            state: str | None = None
            yield "retry: 2000\n\n"
            while loop.time() - started < MAX_STREAM:

                def work(connection: Connection, current: Session, after: Cursor = cursor) -> Any:
                    handoffs.visible(connection, inbox.auth.actor(current), conversation_id)
                    view = conversation_view(connection, conversation_id)
                    return view, *entries(connection, view, after)

                try:
                    found = await self._poll(request, work)
                except NotFound:
                    found = None
                if found is None:
                    yield _event("logout", {})
                    return
                view, new, cursor = found[0]
                line = inbox.pages.fragment("_state.html", language, view=view)
                if state is not None and line != state:
                    yield _event("state", {"html": line})
                    last_sent = loop.time()
                state = line
                if new:
                    html = inbox.pages.fragment("_entries.html", language, history=new, view=view)
                    yield _event("entries", {"html": html, "count": len(new)}, cursor.text())
                    last_sent = loop.time()
                elif loop.time() - last_sent > PING_EVERY:
                    yield ": ping\n\n"
                    last_sent = loop.time()
                await asyncio.sleep(self.interval)

        return self._stream(events())

    async def queue_events(self, request: Request, session: Session) -> Response:
        inbox = self.inbox
        which = request.query_params.get("which") or "waiting"
        if which not in QUEUES:
            raise NotFound(f"there is no queue {which!r}")
        department = inbox.department_filter(request, session)
        language = inbox.pages.language(request, session.official.language)

        async def events() -> AsyncIterator[str]:
            loop = asyncio.get_running_loop()
            started = last_sent = loop.time()
            last_mark: Any = None
            yield "retry: 2000\n\n"
            while loop.time() - started < MAX_STREAM:

                def work(connection: Connection, current: Session, seen: Any = last_mark) -> Any:
                    actor = inbox.auth.actor(current)
                    mark = queue_mark(connection, actor, department=department)
                    changed = mark != seen
                    items = queue(connection, actor, which, department=department) if changed else None
                    return actor, mark, items

                found = await self._poll(request, work)
                if found is None:
                    yield _event("logout", {})
                    return
                actor, new_mark, items = found[0]
                if last_mark is not None and items is not None:
                    html = inbox.pages.fragment(
                        "_queue.html",
                        language,
                        items=items,
                        which=which,
                        now=datetime.now(UTC),
                        alert_after=inbox.config.handoff.alert_after_minutes,
                        everywhere=actor.everywhere,
                    )
                    yield _event("queue", {"html": html, "count": len(items)})
                    last_sent = loop.time()
                elif loop.time() - last_sent > PING_EVERY:
                    yield ": ping\n\n"
                    last_sent = loop.time()
                last_mark = new_mark
                await asyncio.sleep(self.interval)

        return self._stream(events())
