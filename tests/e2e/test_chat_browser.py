"""A resident reports a broken streetlight from the web chat, in real headless Chromium.

Chromium is Debian's ``chromium`` package, driven by Playwright with its
executable path set (Playwright's own browser download cannot run here).
Without Chromium the test skips with the reason, except in CI
(``PLAZA_REQUIRE_BROWSER=1``), where ``.ci/run`` installs it and a missing
browser fails.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from adapters.web import WebChannel
from bot.config import Config
from bot.runtime import Plaza
from bot.web.app import create_app
from models import ServiceRequest
from models.db import Database
from tests.support.server import AppServer, tiny_png

pytestmark = pytest.mark.slow

CHROMIUM = os.environ.get("PLAZA_CHROMIUM", "/usr/bin/chromium")
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _browser_or_skip() -> None:
    missing = []
    if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
        missing.append(f"Chromium ({CHROMIUM}; apt-get install chromium)")
    try:
        import playwright  # noqa: F401
    except ImportError:
        missing.append("the playwright package")
    if missing:
        if os.environ.get("PLAZA_REQUIRE_BROWSER") == "1":
            pytest.fail(f"browser tests are required here but missing: {', '.join(missing)}")
        pytest.skip(f"browser tests need {', '.join(missing)}")


@pytest.fixture
def server(config: Config, tmp_path: Path) -> Iterator[tuple[str, Database]]:
    _browser_or_skip()
    database = Database(f"sqlite:///{tmp_path / 'plaza.sqlite3'}")
    database.upgrade()
    web = WebChannel()
    plaza = Plaza(config, [web], database=database, poll_interval=0.05, reload_interval=None)
    with AppServer(create_app(plaza, web)) as app:
        yield app.base_url, database
    database.dispose()


def test_resident_reports_a_streetlight_in_the_browser(server: tuple[str, Database], tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    base_url, database = server
    photo = tmp_path / "farola.png"
    photo.write_bytes(tiny_png())
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        context = browser.new_context(
            locale="es-ES", permissions=["geolocation"], geolocation={"latitude": 37.13, "longitude": -3.59}
        )
        page = context.new_page()
        page.goto(f"{base_url}/chat")
        bot = page.get_by_test_id("bot-message")

        expect(bot.first).to_contain_text("Ayuntamiento de Jun")
        page.get_by_test_id("option").filter(has_text="Avisar de una incidencia").click()
        expect(bot.last).to_contain_text("¿Qué ha pasado?")
        page.get_by_test_id("option").filter(has_text="Alumbrado").click()
        expect(bot.last).to_contain_text("Cuénteme")
        page.get_by_test_id("text-input").fill("<script>alert(1)</script> La farola no enciende")
        page.get_by_test_id("send").click()
        expect(bot.last).to_contain_text("foto")
        page.get_by_test_id("photo-input").set_input_files(str(photo))
        page.get_by_test_id("send").click()
        expect(bot.last).to_contain_text("¿Dónde es?")
        page.get_by_test_id("share-location").click()
        expect(bot.last).to_contain_text("¿Lo enviamos?")
        # the resident's HTML is shown as text, never run or rendered
        expect(bot.last).to_contain_text("<script>alert(1)</script>")
        assert page.locator("#messages script").count() == 0
        page.get_by_test_id("option").filter(has_text="Sí").click()
        expect(bot.last).to_contain_text(re.compile(r"JUN-\d{4}-\d{6}"))
        ticket = re.search(r"JUN-\d{4}-\d{6}", bot.last.inner_text())
        page.screenshot(path=str(tmp_path / "chat.png"), full_page=True)

        page.reload()  # the transcript and the conversation survive a reload
        expect(bot.last).to_contain_text(ticket.group(0) if ticket else "JUN-")
        browser.close()

    with database.reader.connect() as connection:
        table = ServiceRequest.__table__  # type: ignore[attr-defined]
        row = connection.execute(select(table)).one()
    assert ticket is not None and row.ticket == ticket.group(0)
    assert row.category == "streetlight" and row.department == "servicios"
    assert row.description == "<script>alert(1)</script> La farola no enciende"
    assert row.photo_ref and row.photo_ref.startswith("media:")
    assert (row.latitude, row.longitude) == (37.13, -3.59)
