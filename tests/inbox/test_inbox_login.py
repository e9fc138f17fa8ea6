"""Logging in and out of the inbox: passwords, throttling, CSRF, session fixation, disabled accounts."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from bot.config import Config
from bot.officials import disable_official
from bot.sessions import MAX_FAILURES, token_hash
from bot.web.auth import COOKIE
from models import OfficialSession
from models.db import Database
from tests.inbox.conftest import PASSWORD, Town, csrf_of, post_login

SESSIONS = OfficialSession.__table__


def test_login_opens_the_queue_and_logout_ends_the_session(town: Town) -> None:
    town.official("marta", "servicios", name="Marta Ruiz")
    http = town.client()
    assert http.get("/inbox/queues/waiting").headers["location"] == "/inbox/login"
    response = post_login(http, "marta", PASSWORD)
    assert response.status_code == 303
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/inbox" in cookie
    assert "Secure" not in cookie, "plain http in the test: the cookie cannot be Secure"
    token = http.cookies.get(COOKIE)
    assert token
    with town.database.reader.connect() as connection:
        stored = connection.execute(select(SESSIONS.c.token_hash, SESSIONS.c.csrf_token)).all()
    assert [row.token_hash for row in stored] == [token_hash(token)], "only the token's hash is stored"
    assert token not in {row.token_hash for row in stored}

    page = http.get("/inbox/queues/waiting")
    assert page.status_code == 200
    assert "Marta Ruiz" in page.text and "En espera" in page.text

    logout = http.post("/inbox/logout", data={"csrf": csrf_of(page)})
    assert (logout.status_code, logout.headers["location"]) == (303, "/inbox/login")
    with town.database.reader.connect() as connection:
        assert connection.execute(select(SESSIONS.c.id)).all() == []
    # the old token is worthless even if a copy of the cookie is replayed
    replay = town.client()
    replay.cookies.set(COOKIE, token, domain="127.0.0.1", path="/inbox")
    assert replay.get("/inbox/queues/waiting").status_code == 303
    assert [entry.action for entry in town.audit()][:2] == ["logout", "login"]


def test_a_wrong_password_is_refused_with_a_reason(town: Town) -> None:
    town.official("marta", "servicios")
    http = town.client()
    response = post_login(http, "marta", "not the password")
    assert response.status_code == 401
    assert "Usuario o contraseña incorrectos" in response.text
    assert COOKIE not in http.cookies
    unknown = post_login(http, "nobody", PASSWORD)
    assert unknown.status_code == 401
    assert "Usuario o contraseña incorrectos" in unknown.text, "an unknown user reads the same as a wrong password"
    assert http.get("/inbox/queues/waiting").status_code == 303


def test_five_failures_lock_the_username_even_for_the_right_password(town: Town) -> None:
    town.official("marta", "servicios")
    town.official("pablo", "servicios")
    http = town.client()
    for _ in range(MAX_FAILURES):
        assert post_login(http, "marta", "guessing wrong").status_code == 401
    locked = post_login(http, "marta", PASSWORD)
    assert locked.status_code == 429
    assert "Demasiados intentos fallidos" in locked.text and "15 minutos" in locked.text
    assert COOKIE not in http.cookies
    # another username from another address is not locked by marta's failures
    other = town.client()
    assert post_login(other, "pablo", PASSWORD).status_code == 303


def test_a_form_without_its_csrf_token_is_refused(town: Town) -> None:
    town.official("marta", "servicios")
    http = town.login("marta")
    missing = http.post("/inbox/logout", data={})
    assert missing.status_code == 403
    assert "token" in missing.text
    wrong = http.post("/inbox/logout", data={"csrf": "forged"})
    assert wrong.status_code == 403
    assert http.get("/inbox/queues/waiting").status_code == 200, "still logged in: the forged logout did nothing"
    login_form = town.client()
    login_form.get("/inbox/login")
    forged_login = login_form.post("/inbox/login", data={"csrf": "x", "username": "marta", "password": PASSWORD})
    assert forged_login.status_code == 403
    assert COOKIE not in login_form.cookies


def test_logging_in_issues_a_new_session_id(town: Town) -> None:
    town.official("marta", "servicios")
    http = town.client()
    planted = "attacker-chosen-session-id"
    http.cookies.set(COOKIE, planted, domain="127.0.0.1", path="/inbox")
    assert http.get("/inbox/queues/waiting").status_code == 303, "an unknown session id is no session"
    assert post_login(http, "marta", PASSWORD).status_code == 303
    issued = http.cookies.get(COOKIE, path="/inbox")
    assert issued and issued != planted
    first = issued
    http.cookies.clear()
    assert post_login(http, "marta", PASSWORD).status_code == 303
    assert http.cookies.get(COOKIE) not in (None, first), "every login gets a fresh id"
    # logging in again from a browser that still had a session ends that one
    again = town.client()
    again.cookies.set(COOKIE, http.cookies.get(COOKIE) or "", domain="127.0.0.1", path="/inbox")
    assert post_login(again, "marta", PASSWORD).status_code == 303
    assert http.get("/inbox/queues/waiting").status_code == 303, "the session it replaced is over"


def test_a_disabled_official_is_logged_out_at_once(town: Town) -> None:
    town.official("marta", "servicios")
    http = town.login("marta")
    assert http.get("/inbox/queues/waiting").status_code == 200
    with town.database.writer.begin() as connection:
        disable_official(connection, "marta")
    assert http.get("/inbox/queues/waiting").headers["location"] == "/inbox/login"
    assert post_login(town.client(), "marta", PASSWORD).status_code == 401


def test_an_expired_session_no_longer_works(town: Town) -> None:
    town.official("marta", "servicios")
    http = town.login("marta")
    from sqlalchemy import update

    with town.database.writer.begin() as connection:
        connection.execute(update(SESSIONS).values(expires_at=datetime(2020, 1, 1, tzinfo=UTC)))
    assert http.get("/inbox/queues/waiting").status_code == 303


def test_the_cookie_is_secure_when_configured_behind_a_tls_proxy(
    config: Config, sqlite: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    import httpx

    from adapters.web import WebChannel
    from bot.officials import add_official
    from bot.runtime import Plaza
    from bot.web.app import create_app
    from tests.support.server import AppServer

    monkeypatch.setenv("PLAZA_SECURE_COOKIES", "1")
    with sqlite.writer.begin() as connection:
        add_official(
            connection,
            config,
            username="marta",
            name="Marta",
            department="servicios",
            role="official",
            password=PASSWORD,
        )
    web = WebChannel()
    plaza = Plaza(config, [web], database=sqlite, reload_interval=None)
    with AppServer(create_app(plaza, web)) as server, httpx.Client(base_url=server.base_url) as http:
        form = http.get("/inbox/login")
        assert "Secure" in form.headers["set-cookie"]
        # a browser sends the Secure cookie back over https; this is plain http, so the test does
        login_cookie = form.headers["set-cookie"].split(";")[0]
        response = http.post(
            "/inbox/login",
            data={"csrf": csrf_of(form), "username": "marta", "password": PASSWORD},
            headers={"cookie": login_cookie},
        )
        assert response.status_code == 303
        cookie = next(value for value in response.headers.get_list("set-cookie") if value.startswith(f"{COOKIE}="))
        assert "Secure" in cookie and "HttpOnly" in cookie
