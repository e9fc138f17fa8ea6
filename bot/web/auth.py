"""Logging officials in and out of the inbox, the session cookie, and CSRF checks.

- The session cookie (:data:`COOKIE`) holds a random token; it is HttpOnly,
  SameSite=Lax, limited to ``/inbox``, and Secure when the request came over
  HTTPS or ``PLAZA_SECURE_COOKIES=1`` (behind a proxy that ends TLS).
- Logging in always issues a new token, whatever cookie the browser had.
- Every POST form carries the session's CSRF token (``csrf`` field), compared
  with :func:`hmac.compare_digest`; the login form, before any session, uses
  a token in its own short-lived cookie (double submit). A missing or wrong
  token is refused with 403.
- Logins are throttled per username and per client address (:mod:`bot.sessions`).
"""

from __future__ import annotations

import hmac
import os
import secrets
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import anyio.to_thread
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from bot.access import Actor
from bot.audit import record
from bot.officials import actor_for, authenticate, find_official
from bot.runtime import Plaza
from bot.sessions import (
    LIFETIME,
    Session,
    close_session,
    locked_for,
    open_session,
    record_attempt,
    session_for,
    touch,
)
from bot.web.pages import Pages

__all__ = ["COOKIE", "LOGIN_COOKIE", "Auth", "Forbidden", "Login"]

COOKIE = "plaza_inbox"
LOGIN_COOKIE = "plaza_inbox_login"
MAX_FORM_FIELDS = 20


class Forbidden(Exception):
    """A form without the right CSRF token (HTTP 403)."""


class Login(Exception):
    """No valid session: go to the login page."""


Handler = Callable[[Request, Session], Awaitable[Response]]


class Auth:
    """Sessions for the inbox of one :class:`Plaza`."""

    def __init__(self, plaza: Plaza, pages: Pages) -> None:
        self.plaza = plaza
        self.pages = pages
        self.force_secure = os.environ.get("PLAZA_SECURE_COOKIES", "") == "1"

    # -- sessions --------------------------------------------------------------------

    def secure(self, request: Request) -> bool:
        return self.force_secure or request.url.scheme == "https"

    async def session(self, request: Request) -> Session | None:
        """The request's valid session, if any (looked up on every request)."""
        token = request.cookies.get(COOKIE)
        if not token:
            return None

        def lookup() -> Session | None:
            now = datetime.now(UTC)
            with self.plaza.database.reader.connect() as connection:
                found = session_for(connection, token, now=now)
            if found is not None and found.stale(now):
                with self.plaza.database.writer.begin() as connection:
                    touch(connection, found.id, now=now)
            return found

        return await anyio.to_thread.run_sync(lookup)

    async def form(self, request: Request, session: Session, *, files: int = 0) -> FormData:
        """The POSTed form (with at most ``files`` files), once its CSRF token matched; raises :class:`Forbidden`.

        The caller closes a form that may hold files (``await form.close()``).
        """
        form = await request.form(max_files=files, max_fields=MAX_FORM_FIELDS)
        sent = form.get("csrf")
        if not isinstance(sent, str) or not hmac.compare_digest(sent.encode(), session.csrf_token.encode()):
            await form.close()
            raise Forbidden("the form's security token is missing or out of date")
        return form

    # -- pages -------------------------------------------------------------------------

    async def login_page(self, request: Request) -> Response:
        return self._login_form(request, None, 200)

    def _login_form(self, request: Request, problem: str | None, status: int, username: str = "") -> Response:
        language = self.pages.language(request)
        csrf = secrets.token_urlsafe(32)
        response = self.pages.render(
            request, "login.html", language, status_code=status, csrf=csrf, problem=problem, username=username
        )
        response.set_cookie(
            LOGIN_COOKIE,
            csrf,
            max_age=3600,
            path="/inbox",
            httponly=True,
            samesite="lax",
            secure=self.secure(request),
        )
        return response

    async def login(self, request: Request) -> Response:
        language = self.pages.language(request)
        form = await request.form(max_files=0, max_fields=MAX_FORM_FIELDS)
        sent, expected = form.get("csrf"), request.cookies.get(LOGIN_COOKIE)
        if not isinstance(sent, str) or not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
            return self._login_form(request, self.pages.text(language, "login_expired"), 403)
        username = str(form.get("username") or "").strip().lower()[:64]
        password = str(form.get("password") or "")[:1024]
        client = request.client.host if request.client else "unknown"
        previous = request.cookies.get(COOKIE)

        def attempt() -> tuple[str, Any]:
            with self.plaza.database.writer.begin() as connection:
                wait = locked_for(connection, username, client)
                if wait is not None:
                    return "locked", wait
                official = authenticate(connection, username, password) if username and password else None
                record_attempt(connection, username, client, official is not None)
                if official is None:
                    known = find_official(connection, username) if username else None
                    if known is not None:
                        record(connection, actor_for(known), "login_failed", detail={"client": client})
                    return "wrong", None
                close_session(connection, previous)  # a session the browser had before is not kept on
                token, _csrf = open_session(connection, official.id)
                record(connection, actor_for(official), "login", detail={"client": client})
                return "ok", token

        outcome, value = await anyio.to_thread.run_sync(attempt)
        if outcome == "locked":
            minutes = max(1, int(value.total_seconds() // 60) + 1)
            return self._login_form(request, self.pages.text(language, "login_locked", minutes=minutes), 429, username)
        if outcome == "wrong":
            return self._login_form(request, self.pages.text(language, "login_wrong"), 401, username)
        response = RedirectResponse("/inbox/", status_code=303)
        response.set_cookie(
            COOKIE,
            value,
            max_age=int(LIFETIME.total_seconds()),
            path="/inbox",
            httponly=True,
            samesite="lax",
            secure=self.secure(request),
        )
        response.delete_cookie(LOGIN_COOKIE, path="/inbox")
        return response

    async def logout(self, request: Request, session: Session) -> Response:
        await self.form(request, session)
        token = request.cookies.get(COOKIE)

        def end() -> None:
            with self.plaza.database.writer.begin() as connection:
                close_session(connection, token)
                record(connection, self.actor(session), "logout")

        await anyio.to_thread.run_sync(end)
        response = RedirectResponse("/inbox/login", status_code=303)
        response.delete_cookie(COOKIE, path="/inbox")
        return response

    @staticmethod
    def actor(session: Session) -> Actor:
        return actor_for(session.official)
