"""A webhook that cannot reach the database answers 503, and nothing is lost once the database is back.

PostgreSQL is reached through a TCP proxy the test cuts: new connections are
refused, as they are when the server is down or the URL names a closed port.
The platform (Telegram's fake, which redelivers until it gets a 2xx; X, whose
sender the test repeats) delivers again, and the message is stored and
answered once. With residents writing all along, a cut that also breaks the
pooled connections loses nothing and doubles at most the send in flight.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from bot.config import Config
from models.db import Database
from tests.support.contract import MENU, Platform, running_town
from tests.support.contract_platforms import TelegramPlatform, platform_named
from tests.support.databases import PostgresSchema, postgres_url
from tests.support.faults import Traffic, ledger, reference, settled
from tests.support.scale import rows
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


@pytest.fixture
def pooled(request: pytest.FixtureRequest, proxy: TcpProxy) -> Iterator[Database]:
    """The test schema through the proxy with a connection pool, as ``plaza serve`` runs: a cut breaks the
    pooled connections under the process's feet, and the pool must notice and reconnect."""
    schema: PostgresSchema = request.getfixturevalue("_postgres")
    schema.fresh().dispose()
    url = make_url(schema.url).set(host="127.0.0.1", port=proxy.port)
    database = Database(url.render_as_string(hide_password=False), schema=schema.schema)
    try:
        yield database
    finally:
        database.dispose()


def test_traffic_through_an_outage_is_refused_with_503_then_processed_and_answered_once(
    config: Config, pooled: Database, proxy: TcpProxy, tmp_path: Path
) -> None:
    """Residents keep writing while PostgreSQL is cut (listener closed, established connections broken).

    Messages accepted before the cut are processed after it; during it every webhook gets 503 and Telegram
    delivers again; afterwards everything is stored once, processed once, answered in order. A reply whose
    send succeeded just as the cut came cannot be marked sent; it is sent again after (Telegram has no
    idempotency key), so at most one double per cut is counted, never a loss.
    """
    with platform_named("telegram") as telegram, running_town(telegram, config, pooled):
        assert isinstance(telegram, TelegramPlatform)
        fake = telegram.fake
        fake.latency = 0.05
        traffic = Traffic(fake, residents=3, interval=0.5)
        traffic.start()
        wait_for(lambda: rows(pooled, "SELECT count(*) FROM outbox WHERE status = 'sent'")[0][0] >= 3, 30)
        proxy.cut()
        cut_at = len(fake.webhook_deliveries())
        accepted_before = {update for update, status in fake.webhook_deliveries() if status == 200}
        try:
            wait_for(lambda: [s for _, s in fake.webhook_deliveries()[cut_at:]].count(503) >= 10, 30)
        finally:
            proxy.restore()
        traffic.finish()
        wait_for(lambda: settled(pooled, fake, traffic), timeout=90, interval=0.2)
        result = ledger(pooled, fake, traffic, reference(config, tmp_path, traffic.cycles))
        refused = [status for _, status in fake.webhook_deliveries()[cut_at:] if status != 200]
        print(
            f"\nPostgreSQL cut: {len(traffic.pushed)} messages ({len(accepted_before)} accepted before the cut), "
            f"{len(refused)} deliveries refused during it ({sorted(set(refused))}), lost {result.lost}, "
            f"duplicates {result.duplicates}"
        )
        assert set(refused) == {503}, "while the database is away a webhook says 503, never 200 or a crash"
        done = {row.platform_message_id for row in rows(pooled, "SELECT platform_message_id FROM inbox")}
        assert {str(update) for update in accepted_before} <= done
        assert result.lost == 0 and result.duplicates <= 1
