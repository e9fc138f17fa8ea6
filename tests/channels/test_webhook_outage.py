"""A webhook that cannot reach the database answers 503, and nothing is lost once the database is back.

PostgreSQL is reached through a TCP proxy the test cuts: new connections are
refused, as they are when the server is down or the URL names a closed port.
The platform (Telegram's fake, which redelivers until it gets a 2xx; X, whose
sender the test repeats) delivers again, and the message is stored and
answered once.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy.engine import make_url

from bot.config import Config
from models.db import Database
from tests.support.contract import MENU, Platform, running_town
from tests.support.contract_platforms import TelegramPlatform, platform_named
from tests.support.databases import PostgresSchema, postgres_url
from tests.support.server import wait_for
from tests.support.tcpproxy import TcpProxy

pytestmark = pytest.mark.postgres


@pytest.fixture(autouse=True)
def _timedelta_periods(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", "true")


@pytest.fixture
def proxy() -> Iterator[TcpProxy]:
    url = make_url(postgres_url() or "")
    with TcpProxy(url.host or "127.0.0.1", url.port or 5432) as running:
        yield running


@pytest.fixture
def database(request: pytest.FixtureRequest, proxy: TcpProxy) -> Iterator[Database]:
    """The test schema, emptied, reached through the proxy (a connection per use, so a cut is felt at once)."""
    schema: PostgresSchema = request.getfixturevalue("_postgres")
    schema.fresh().dispose()
    url = make_url(schema.url).set(host="127.0.0.1", port=proxy.port)
    database = Database(url.render_as_string(hide_password=False), schema=schema.schema, pooled=False)
    try:
        yield database
    finally:
        database.dispose()


@pytest.fixture(params=["telegram", "x"])
def platform(request: pytest.FixtureRequest) -> Iterator[Platform]:
    with platform_named(request.param) as running:
        yield running


def test_a_webhook_answers_503_while_the_database_is_away_and_nothing_is_lost(
    platform: Platform, config: Config, database: Database, proxy: TcpProxy
) -> None:
    with running_town(platform, config, database) as town:
        resident, body = platform.event()
        residents = [resident]
        proxy.cut()
        try:
            refused = town.post(body, "right")
            assert refused.status_code == 503, refused.text
            assert "database" in refused.json()["error"]
            if isinstance(platform, TelegramPlatform):  # Telegram itself delivers again until it gets a 2xx
                residents.append(platform.resident())
                update_id = int(platform.say(residents[-1], "hola"))
                wait_for(lambda: (update_id, 503) in platform.fake.webhook_deliveries(), 20)
        finally:
            proxy.restore()
        assert town.post(body, "right").status_code == 200  # the platform delivers again
        for resident in residents:
            town.wait_reply(resident, MENU["es"])
            town.settled(resident)
            assert len(town.inbox(resident)) == 1
            assert sum(MENU["es"] in text for text in platform.replies(resident)) == 1
        assert town.stored() == len(residents)
        if isinstance(platform, TelegramPlatform):
            assert platform.fake.webhook_deliveries()[-1] == (update_id, 200)
