"""Officials in real headless Chromium: log in, take a waiting conversation, reply, resolve; isolation.

The resident talks through the web chat's JSON API (as the chat page does);
the official works in the inbox in Chromium (see test_chat_browser.py for how
Chromium is found, and when a missing one skips). Screenshots go to
``$PLAZA_SCREENSHOTS`` when set, else to the test's temporary folder.
"""

from __future__ import annotations

import os
import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapters.web import WebChannel
from bot.config import Config
from bot.officials import add_official
from bot.runtime import Plaza
from bot.web.app import create_app
from models.db import Database
from tests.e2e.test_chat_browser import CHROMIUM, FLAGS, _browser_or_skip
from tests.support.server import AppServer

pytestmark = pytest.mark.slow

PASSWORD = "correct horse battery"
PROBE = "<script>alert('xss')</script> La farola de la plaza no enciende"


class Resident:
    """A web chat session driven over its JSON API."""

    def __init__(self, http: httpx.Client) -> None:
        self.http = http
        self.url = f"/chat/api/{uuid.uuid4().hex}/messages"
        self.after = 0

    def say(self, **fields: Any) -> list[str]:
        assert self.http.post(self.url, json=fields).status_code == 202
        return self.wait_for(lambda texts: bool(texts))

    def wait_for(self, done: Any, timeout: float = 20) -> list[str]:
        got: list[str] = []
        deadline = time.monotonic() + timeout
        while not done(got):
            assert time.monotonic() < deadline, f"no such message in {timeout} s; got {got}"
            messages = self.http.get(self.url, params={"after": self.after, "wait": 2}).json()
            if messages:
                self.after = messages[-1]["id"]
                got.extend(message["text"] for message in messages)
        return got


@pytest.fixture
def server(config: Config, tmp_path: Path) -> Iterator[tuple[str, Database]]:
    _browser_or_skip()
    database = Database(f"sqlite:///{tmp_path / 'plaza.sqlite3'}")
    database.upgrade()
    with database.writer.begin() as connection:
        for username, name, department in (("marta", "Marta Ruiz", "servicios"), ("ramon", "Ramón Gil", "policia")):
            add_official(
                connection,
                config,
                username=username,
                name=name,
                department=department,
                role="official",
                password=PASSWORD,
            )
    web = WebChannel()
    plaza = Plaza(config, [web], database=database, poll_interval=0.05, reload_interval=None)
    with AppServer(create_app(plaza, web, live_interval=0.2)) as app:
        yield app.base_url, database
    database.dispose()


def test_an_official_takes_answers_and_resolves_in_the_browser(server: tuple[str, Database], tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    base_url, _database = server
    shots = Path(os.environ.get("PLAZA_SCREENSHOTS") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    http = httpx.Client(base_url=base_url, timeout=15)
    resident = Resident(http)
    resident.say(start=True, language="es")
    resident.say(text="hablar con una persona")
    resident.say(text="con un departamento")
    resident.say(text="Servicios Municipales")
    assert any("Servicios Municipales" in text for text in resident.say(text=PROBE))

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_context(locale="es-ES", viewport={"width": 1200, "height": 800}).new_page()
        page.goto(f"{base_url}/inbox/")
        expect(page).to_have_url(re.compile(r"/inbox/login$"))
        page.get_by_test_id("username").fill("marta")
        page.get_by_test_id("password").fill(PASSWORD)
        page.get_by_test_id("login").click()
        expect(page).to_have_url(re.compile(r"/inbox/queues/waiting$"))
        row = page.get_by_test_id("queue-row")
        expect(row).to_have_count(1)
        expect(row).to_contain_text("<script>alert('xss')</script>")
        assert page.locator("#queue script").count() == 0
        page.screenshot(path=str(shots / "inbox-queue.png"), full_page=True)

        row.get_by_test_id("open-conversation").click()
        history = page.get_by_test_id("history")
        expect(history.get_by_test_id("entry-resident").last).to_contain_text(PROBE)
        assert page.locator("#history script").count() == 0, "the resident's <script> is text, never markup"
        page.get_by_test_id("take").click()
        expect(page.get_by_test_id("flash")).to_contain_text("Ahora atiende usted esta conversación")
        expect(page.get_by_test_id("state")).to_contain_text("Con una persona del Ayuntamiento")
        assert any("Marta Ruiz" in text for text in resident.wait_for(lambda texts: any("Marta" in t for t in texts)))

        page.get_by_test_id("reply-text").fill("Hola, soy Marta. Mañana la revisa el electricista.")
        page.get_by_test_id("reply").click()
        expect(page.get_by_test_id("flash")).to_contain_text("Respuesta enviada")
        got = resident.wait_for(lambda texts: any("electricista" in t for t in texts))
        assert "Marta Ruiz: Hola, soy Marta. Mañana la revisa el electricista." in got

        # the resident answers; it appears on the open page without a reload
        resident.http.post(resident.url, json={"text": "¡Gracias! Es la farola junto a la fuente."})
        expect(history.get_by_test_id("entry-resident").last).to_contain_text("junto a la fuente", timeout=10_000)
        page.get_by_test_id("note-text").fill("Avisar al electricista de guardia")
        page.get_by_test_id("note").click()
        expect(page.get_by_test_id("entry-note")).to_contain_text("Avisar al electricista de guardia")
        page.screenshot(path=str(shots / "inbox-conversation.png"), full_page=True)
        conversation_url = page.url.split("?")[0]

        page.get_by_test_id("resolve").click()
        expect(page.get_by_test_id("state")).to_contain_text("Con el asistente automático")
        got = resident.wait_for(lambda texts: any("resuelta" in t for t in texts))
        assert any("Damos su consulta por resuelta" in text for text in got)
        page.goto(f"{base_url}/inbox/queues/resolved")
        expect(page.get_by_test_id("queue-row")).to_have_count(1)
        page.screenshot(path=str(shots / "inbox-resolved.png"), full_page=True)

        # an official of another department cannot open it
        other = browser.new_context(locale="es-ES").new_page()
        other.goto(f"{base_url}/inbox/login")
        other.get_by_test_id("username").fill("ramon")
        other.get_by_test_id("password").fill(PASSWORD)
        other.get_by_test_id("login").click()
        expect(other.get_by_test_id("queue-empty")).to_be_visible()
        response = other.goto(conversation_url)
        assert response is not None and response.status == 404
        expect(other.get_by_test_id("error")).to_contain_text("No encontrado")
        expect(other.locator("body")).not_to_contain_text("farola")
        browser.close()
    http.close()
