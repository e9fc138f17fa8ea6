"""The officials' inbox under ``/inbox``: queues, conversations, service requests, live updates.

Routes (HTML unless said; every POST is a form with the session's ``csrf``):

- ``GET /inbox/login``, ``POST /inbox/login``, ``POST /inbox/logout``
- ``GET /inbox/`` → the waiting queue; ``GET /inbox/queues/{waiting|mine|open|resolved}?department=``
- ``GET /inbox/search?q=`` by message text, ticket or resident's name
- ``GET /inbox/conversations/{id}`` the history, and
  ``POST /inbox/conversations/{id}/{take|reply|note|transfer|release|resolve}``
- ``GET /inbox/requests?list=open|closed|all``, ``GET /inbox/requests/{id}``,
  ``POST /inbox/requests/{id}/status`` (multipart: an optional ``photo``, an image of at
  most :data:`~bot.media.MAX_PHOTO_BYTES`, checked by its bytes: 413 when larger, 400 when not an image)
- ``GET /inbox/media/{id}`` a stored photo, for officials who may see its conversation; a
  resident's photo from a platform and a request's photo: :mod:`bot.web.photos`
- ``GET /inbox/events`` and ``GET /inbox/conversations/{id}/events``: server-sent events (:mod:`bot.web.live`)

Each action runs in one transaction with its audit row. Access follows
:meth:`Actor.sees`: another department's conversation, request or photo is
answered 404, as if it did not exist. Errors become readable pages with the
right status (Invalid 400, NotAllowed 403, NotFound 404, Conflict 409).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import anyio.to_thread
from sqlalchemy import Connection
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from bot.audit import record
from bot.errors import Conflict, Invalid, NotAllowed, NotFound, OfficialError
from bot.handoff import Handoffs, wait_for_sends
from bot.history import conversation_view, entries, media_conversation
from bot.media import MAX_PHOTO_BYTES, Media, PhotoRefused, checked_photo
from bot.notices import Wording
from bot.queues import QUEUES, REQUEST_QUEUES, queue, request_item, request_updates, requests_queue, search
from bot.request_status import STATUSES, UnknownRequest, UnknownStatus, request_id_for, set_request_status
from bot.runtime import Plaza
from bot.sessions import Session
from bot.web.auth import Auth, Forbidden
from bot.web.broadcasts import broadcast_routes
from bot.web.live import Live
from bot.web.pages import STATIC, Pages
from bot.web.photos import photo_response, photo_routes

__all__ = ["Inbox", "inbox_routes"]

FORM_SLACK = 64 * 1024
"""Bytes a status form may have besides its photo (the other fields, the multipart framing)."""
ACTIONS = ("take", "reply", "note", "transfer", "release", "resolve")
_STATUS_OF = {Invalid: 400, NotAllowed: 403, NotFound: 404, Conflict: 409}

Page = Callable[[Request, Session], Awaitable[Response]]


class Inbox:
    """The inbox's handlers for one :class:`Plaza`."""

    def __init__(self, plaza: Plaza, *, live_interval: float = 1.0) -> None:
        self.plaza = plaza
        self.config = plaza.config
        self.pages = Pages(plaza.config)
        self.auth = Auth(plaza, self.pages)
        self.live = Live(self, interval=live_interval)
        self.pages.environment.globals["fetches_photos"] = plaza.media.fetches

    # -- plumbing ------------------------------------------------------------------------

    def handoffs(self) -> Handoffs:
        return Handoffs(Wording(self.config, self.plaza.catalog.snapshot.flows.messages))

    def guarded(self, page: Page) -> Callable[[Request], Awaitable[Response]]:
        """Run ``page`` for a logged-in official; map refusals to pages with the right status."""

        async def endpoint(request: Request) -> Response:
            session = await self.auth.session(request)
            if session is None:
                if request.headers.get("accept") == "text/event-stream":
                    return Response("log in again", status_code=401)
                return RedirectResponse("/inbox/login", status_code=303)
            language = self.pages.language(request, session.official.language)
            try:
                return await page(request, session)
            except Forbidden as refused:
                return self.error(request, session, 403, str(refused), language)
            except OfficialError as error:
                return self.error(request, session, _STATUS_OF.get(type(error), 400), error.reason, language)
            except (UnknownStatus, UnknownRequest) as error:
                return self.error(request, session, 400, str(error), language)

        return endpoint

    def error(self, request: Request, session: Session | None, status: int, reason: str, language: str) -> Response:
        return self.pages.render(
            request, "error.html", language, status_code=status, session=session, status=status, reason=reason
        )

    def render(self, request: Request, session: Session, template: str, **context: Any) -> Response:
        language = self.pages.language(request, session.official.language)
        return self.pages.render(
            request,
            template,
            language,
            session=session,
            me=session.official,
            everywhere=self.auth.actor(session).everywhere,
            may_broadcast=self.auth.actor(session).may("lead"),
            flash=request.query_params.get("done"),
            now=datetime.now(UTC),
            alert_after=self.config.handoff.alert_after_minutes,
            **context,
        )

    async def read(self, work: Callable[[Connection], Any]) -> Any:
        def run() -> Any:
            with self.plaza.database.reader.connect() as connection:
                return work(connection)

        return await anyio.to_thread.run_sync(run)

    async def write(self, work: Callable[[Connection], Any]) -> Any:
        def run() -> Any:
            with self.plaza.database.writer.begin() as connection:
                return work(connection)

        result = await anyio.to_thread.run_sync(run)
        for dispatcher in self.plaza.dispatchers.values():
            dispatcher.wake()
        return result

    def department_filter(self, request: Request, session: Session) -> str | None:
        chosen = request.query_params.get("department") or None
        if chosen is not None and chosen not in self.config.departments:
            raise NotFound(f"there is no department {chosen!r}")
        return chosen if self.auth.actor(session).everywhere else None

    # -- queues ----------------------------------------------------------------------------

    async def home(self, request: Request, session: Session) -> Response:
        return RedirectResponse("/inbox/queues/waiting", status_code=303)

    async def queue_page(self, request: Request, session: Session) -> Response:
        which = request.path_params["which"]
        department = self.department_filter(request, session)
        actor = self.auth.actor(session)
        items = await self.read(lambda c: queue(c, actor, which, department=department))
        query = urlencode({"which": which, **({"department": department} if department else {})})
        return self.render(
            request,
            session,
            "queue.html",
            which=which,
            queues=QUEUES,
            items=items,
            department=department,
            live_url=f"/inbox/events?{query}",
        )

    async def search_page(self, request: Request, session: Session) -> Response:
        text = (request.query_params.get("q") or "").strip()[:200]
        actor = self.auth.actor(session)
        hits = await self.read(lambda c: search(c, actor, text)) if text else []
        return self.render(request, session, "search.html", q=text, hits=hits)

    # -- a conversation ------------------------------------------------------------------

    async def conversation_page(self, request: Request, session: Session) -> Response:
        conversation_id = request.path_params["conversation_id"]
        actor = self.auth.actor(session)
        handoffs = self.handoffs()

        def load(connection: Connection) -> Any:
            handoffs.visible(connection, actor, conversation_id)
            view = conversation_view(connection, conversation_id)
            return view, *entries(connection, view)

        view, history, cursor = await self.read(load)
        return self.render(
            request,
            session,
            "conversation.html",
            view=view,
            history=history,
            live_url=f"/inbox/conversations/{conversation_id}/events?after={cursor.text()}",
        )

    async def act(self, request: Request, session: Session) -> Response:
        conversation_id = request.path_params["conversation_id"]
        action = request.path_params["action"]
        if action not in ACTIONS:
            raise NotFound(f"there is no action {action!r}")
        form = await self.auth.form(request, session)
        actor = self.auth.actor(session)
        handoffs = self.handoffs()
        text = str(form.get("text") or "")
        target = str(form.get("department") or "")

        def run(connection: Connection) -> None:
            if action == "take":
                handoffs.take(connection, actor, conversation_id)
            elif action == "reply":
                handoffs.reply(connection, actor, conversation_id, text)
            elif action == "note":
                handoffs.note(connection, actor, conversation_id, text)
            elif action == "transfer":
                handoffs.transfer(connection, actor, conversation_id, department=target)
            elif action == "release":
                handoffs.release(connection, actor, conversation_id)
            else:
                handoffs.resolve(connection, actor, conversation_id)

        await self.write(run)
        if action in ("take", "reply"):
            # the takeover committed; answer once the bot's messages already on their way have landed,
            # so that from the official's "taken" on, the resident hears only officials
            await anyio.to_thread.run_sync(wait_for_sends, self.plaza.database.writer, conversation_id)
        if action == "transfer" and not actor.sees(target):
            return RedirectResponse("/inbox/queues/waiting?done=transfer", status_code=303)
        return RedirectResponse(f"/inbox/conversations/{conversation_id}?done={action}", status_code=303)

    async def media(self, request: Request, session: Session) -> Response:
        media_id = request.path_params["media_id"]
        actor = self.auth.actor(session)
        handoffs = self.handoffs()

        def load(connection: Connection) -> tuple[str, bytes]:
            found = media_conversation(connection, media_id)
            if found is None:
                raise NotFound("there is no such photo")
            handoffs.visible(connection, actor, found[0])
            return found[1], found[2]

        mime, data = await self.read(load)
        return photo_response(Media(data, mime))

    # -- service requests --------------------------------------------------------------------

    async def requests_page(self, request: Request, session: Session) -> Response:
        which = request.query_params.get("list") or "open"
        department = self.department_filter(request, session)
        actor = self.auth.actor(session)
        items = await self.read(lambda c: requests_queue(c, actor, which, department=department))
        return self.render(
            request, session, "requests.html", which=which, lists=REQUEST_QUEUES, items=items, department=department
        )

    async def request_page(self, request: Request, session: Session) -> Response:
        request_id = request.path_params["request_id"]
        actor = self.auth.actor(session)

        def load(connection: Connection) -> Any:
            item = request_item(connection, actor, request_id)
            return item, request_updates(connection, request_id)

        item, updates = await self.read(load)
        return self.render(request, session, "request.html", item=item, updates=updates, statuses=STATUSES)

    async def request_status(self, request: Request, session: Session) -> Response:
        request_id = request.path_params["request_id"]
        language = self.pages.language(request, session.official.language)
        try:
            declared = int(request.headers.get("content-length") or 0)
        except ValueError:
            declared = 0
        if declared > MAX_PHOTO_BYTES + FORM_SLACK:
            reason = f"the form is too large; a photo may have at most {MAX_PHOTO_BYTES // 1_048_576} MB"
            return self.error(request, session, 413, reason, language)
        form = await self.auth.form(request, session, files=1)
        photo: Media | None = None
        upload = form.get("photo")
        try:
            if isinstance(upload, UploadFile) and (upload.filename or upload.size):
                photo = checked_photo(await upload.read(MAX_PHOTO_BYTES + 1))
        except PhotoRefused as refused:
            return self.error(request, session, 413 if refused.too_large else 400, refused.reason, language)
        finally:
            await form.close()
        actor = self.auth.actor(session)
        status = str(form.get("status") or "")
        note = str(form.get("note") or "").strip()
        duplicate_of = str(form.get("duplicate_of") or "").strip().upper()
        where = str(form.get("where") or "").strip()
        for name, value, most in (("note", note, 2000), ("where to go instead", where, 500)):
            if len(value) > most:  # refused with the reason, never cut short without a word
                raise OfficialError(f"the {name} is {len(value)} characters long; keep it to {most}")
        if status not in STATUSES:
            raise OfficialError(f"unknown status {status!r}; choose one of {', '.join(STATUSES)}")
        if status == "duplicate" and not duplicate_of:
            raise OfficialError("a duplicate needs the ticket of the request it repeats")
        if status == "not_ours" and not where:
            raise OfficialError("say where the resident should go instead")
        config = self.config
        messages = self.plaza.catalog.snapshot.flows.messages

        def run(connection: Connection) -> None:
            item = request_item(connection, actor, request_id)
            told = note
            if status == "duplicate":
                other = request_id_for(connection, duplicate_of)
                if other == request_id:
                    raise OfficialError("a request cannot be a duplicate of itself")
                told = " — ".join(part for part in (duplicate_of, note) if part)
            elif status == "not_ours":
                told = " — ".join(part for part in (where, note) if part)
            change = set_request_status(
                connection,
                config,
                request_id,
                status,
                note=told or None,
                now=datetime.now(UTC),
                messages=messages,
                photo=photo,
            )
            record(
                connection,
                actor,
                "request_status",
                request_id=request_id,
                detail={
                    "ticket": item.ticket,
                    "from": change.old_status,
                    "to": change.status,
                    "changed": change.changed,
                    "notified": change.notified,
                    "note": note or None,
                    "duplicate_of": duplicate_of or None,
                    "where": where or None,
                    "photo": {"bytes": len(photo.data), "type": photo.mime_type} if photo else None,
                },
            )

        await self.write(run)
        return RedirectResponse(f"/inbox/requests/{request_id}?done=status", status_code=303)


def inbox_routes(plaza: Plaza, *, live_interval: float = 1.0) -> list[BaseRoute]:
    """The ``/inbox`` routes for ``plaza``."""
    inbox = Inbox(plaza, live_interval=live_interval)
    guard = inbox.guarded
    return [
        Route("/inbox", guard(inbox.home), methods=["GET"]),
        Route("/inbox/", guard(inbox.home), methods=["GET"]),
        Route("/inbox/login", inbox.auth.login_page, methods=["GET"]),
        Route("/inbox/login", inbox.auth.login, methods=["POST"]),
        Route("/inbox/logout", guard(inbox.auth.logout), methods=["POST"]),
        Mount("/inbox/static", app=StaticFiles(directory=STATIC), name="inbox-static"),
        Route("/inbox/queues/{which}", guard(inbox.queue_page), methods=["GET"]),
        Route("/inbox/events", guard(inbox.live.queue_events), methods=["GET"]),
        Route("/inbox/search", guard(inbox.search_page), methods=["GET"]),
        Route("/inbox/conversations/{conversation_id:id}", guard(inbox.conversation_page), methods=["GET"]),
        Route(
            "/inbox/conversations/{conversation_id:id}/events",
            guard(inbox.live.conversation_events),
            methods=["GET"],
        ),
        Route("/inbox/conversations/{conversation_id:id}/{action}", guard(inbox.act), methods=["POST"]),
        Route("/inbox/media/{media_id:id}", guard(inbox.media), methods=["GET"]),
        Route("/inbox/requests", guard(inbox.requests_page), methods=["GET"]),
        Route("/inbox/requests/{request_id:id}", guard(inbox.request_page), methods=["GET"]),
        Route("/inbox/requests/{request_id:id}/status", guard(inbox.request_status), methods=["POST"]),
        *photo_routes(inbox),
        *broadcast_routes(inbox),
    ]
