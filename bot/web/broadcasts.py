"""The inbox's broadcasts: write an announcement for a topic, preview it, send it, watch it, cancel it.

Department leads and town admins broadcast (an ``official`` or ``clerk``
gets 403). Every step is one transaction with its audit row. Sending expands
the topic's subscribers into the outbox at low priority (replies to
residents still go first, :mod:`bot.broadcast`); the broadcast's page shows
sent / total, failures and the ETA, and refreshes itself while it sends.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import anyio.to_thread
from sqlalchemy import Connection
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from bot.access import Actor
from bot.audit import record
from bot.broadcast import (
    BroadcastError,
    UnknownBroadcast,
    cancel_broadcast,
    create_broadcast,
    eta_text,
    list_broadcasts,
    preview,
    progress,
    start_broadcast,
    undelivered,
)
from bot.errors import NotFound
from bot.sessions import Session
from bot.templates import pick

if TYPE_CHECKING:
    from bot.web.inbox import Inbox

__all__ = ["broadcast_routes"]

BROADCASTERS = ("lead",)
"""Roles that may broadcast (a town admin may everything)."""


class Broadcasts:
    """Handlers for ``/inbox/broadcasts``."""

    def __init__(self, inbox: Inbox) -> None:
        self.inbox = inbox
        self.config = inbox.config

    def _actor(self, session: Session) -> Actor:
        actor = self.inbox.auth.actor(session)
        actor.require(*BROADCASTERS)
        return actor

    async def list_page(self, request: Request, session: Session) -> Response:
        self._actor(session)
        items = await self.inbox.read(lambda c: list_broadcasts(c))
        return self._page(request, session, items=items, problem=None, form={})

    def _page(
        self, request: Request, session: Session, *, items: Any, problem: str | None, form: dict[str, str]
    ) -> Response:
        language = self.inbox.pages.language(request, session.official.language)
        topics = [
            (key, pick(topic.label, language, self.config.default_language))
            for key, topic in self.config.topics.items()
        ]
        return self.inbox.render(
            request,
            session,
            "broadcasts.html",
            items=items,
            topics=topics,
            topic_names=dict(topics),
            languages=self.config.languages,
            problem=problem,
            form=form,
            status_code=400 if problem else 200,
        )

    async def create(self, request: Request, session: Session) -> Response:
        actor = self._actor(session)
        form = await self.inbox.auth.form(request, session)
        topic = str(form.get("topic") or "")
        texts = {language: str(form.get(f"text_{language}") or "") for language in self.config.languages}
        messages = self.inbox.plaza.catalog.snapshot.flows.messages

        def run(connection: Connection) -> int:
            broadcast_id = create_broadcast(
                connection, self.config, topic=topic, texts=texts, author=actor.username, messages=messages
            )
            record(connection, actor, "broadcast_draft", detail={"broadcast_id": broadcast_id, "topic": topic})
            return broadcast_id

        try:
            broadcast_id = await self.inbox.write(run)
        except BroadcastError as error:
            items = await self.inbox.read(lambda c: list_broadcasts(c))
            shown = {"topic": topic, **{f"text_{k}": v for k, v in texts.items()}}
            return self._page(request, session, items=items, problem=str(error), form=shown)
        return RedirectResponse(f"/inbox/broadcasts/{broadcast_id}", status_code=303)

    async def detail(self, request: Request, session: Session) -> Response:
        self._actor(session)
        broadcast_id = request.path_params["broadcast_id"]

        def load(connection: Connection) -> tuple[Any, Any, Any]:
            return (
                preview(connection, broadcast_id),
                progress(connection, broadcast_id),
                undelivered(connection, broadcast_id),
            )

        try:
            shown, state, failures = await self.inbox.read(load)
        except UnknownBroadcast:
            raise NotFound(f"there is no broadcast {broadcast_id}") from None
        done = max(0, state.sent + state.failed + state.cancelled)
        language = self.inbox.pages.language(request, session.official.language)
        topic = self.config.topics.get(shown.topic)
        return self.inbox.render(
            request,
            session,
            "broadcast.html",
            topic=pick(topic.label, language, self.config.default_language) if topic else shown.topic,
            preview=shown,
            progress=state,
            failures=failures,
            percent=round(100 * done / state.total) if state.total else 0,
            eta=eta_text(state.eta_seconds),
            refresh=state.status == "sending",
        )

    async def send(self, request: Request, session: Session) -> Response:
        actor = self._actor(session)
        await self.inbox.auth.form(request, session)
        broadcast_id = request.path_params["broadcast_id"]

        def audit(connection: Connection) -> None:
            progress(connection, broadcast_id)  # raises UnknownBroadcast
            record(connection, actor, "broadcast_send", detail={"broadcast_id": broadcast_id})

        try:
            await self.inbox.write(audit)
            await anyio.to_thread.run_sync(lambda: start_broadcast(self.inbox.plaza.database.writer, broadcast_id))
        except UnknownBroadcast:
            raise NotFound(f"there is no broadcast {broadcast_id}") from None
        self.inbox.plaza.wake_dispatchers()
        return RedirectResponse(f"/inbox/broadcasts/{broadcast_id}?done=broadcast_send", status_code=303)

    async def cancel(self, request: Request, session: Session) -> Response:
        actor = self._actor(session)
        await self.inbox.auth.form(request, session)
        broadcast_id = request.path_params["broadcast_id"]

        def run(connection: Connection) -> None:
            cancelled = cancel_broadcast(connection, broadcast_id)
            record(connection, actor, "broadcast_cancel", detail={"broadcast_id": broadcast_id, "cancelled": cancelled})

        try:
            await self.inbox.write(run)
        except UnknownBroadcast:
            raise NotFound(f"there is no broadcast {broadcast_id}") from None
        return RedirectResponse(f"/inbox/broadcasts/{broadcast_id}?done=broadcast_cancel", status_code=303)


def broadcast_routes(inbox: Inbox) -> list[BaseRoute]:
    """The ``/inbox/broadcasts`` routes."""
    pages = Broadcasts(inbox)
    guard = inbox.guarded
    return [
        Route("/inbox/broadcasts", guard(pages.list_page), methods=["GET"]),
        Route("/inbox/broadcasts", guard(pages.create), methods=["POST"]),
        Route("/inbox/broadcasts/{broadcast_id:id}", guard(pages.detail), methods=["GET"]),
        Route("/inbox/broadcasts/{broadcast_id:id}/send", guard(pages.send), methods=["POST"]),
        Route("/inbox/broadcasts/{broadcast_id:id}/cancel", guard(pages.cancel), methods=["POST"]),
    ]
