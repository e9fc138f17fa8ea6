"""The transparency figures for a seeded month: counts and medians worked out by hand.

The month is tests/support/seed_month.py's ``MONTH`` (times in hours after each report).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx

from bot.config import Config
from bot.transparency import figures, status_changes
from models.db import Database
from tests.support.seed_month import seed_month

H = timedelta(hours=1)


def test_counts_and_medians_per_department_over_30_and_365_days(config: Config, database: Database) -> None:
    now = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
    seed_month(database, now)
    with database.reader.connect() as connection:
        data = figures(connection, config, now=now)
    thirty, year = data.windows
    assert (thirty.days, year.days) == (30, 365)
    by = {f.department: f for f in thirty.departments}
    assert list(by) == ["alcaldia", "servicios"]  # public departments with public categories; never policia
    services = by["servicios"]
    # lamp 1h/5h, rubbish 3h/29h, leak 2h/open, pothole no answer, bulb 0.5h/2h
    assert (services.received, services.open, services.fixed) == (5, 2, 3)
    assert services.median_first_answer == 1.5 * H  # median of 0.5, 1, 2, 3
    assert services.median_fix == 5 * H  # median of 2, 5, 29
    mayor = by["alcaldia"]  # the bench: answered in 4 h, closed (not fixed) after 48 h
    assert (mayor.received, mayor.open, mayor.fixed) == (1, 0, 0)
    assert (mayor.median_first_answer, mayor.median_fix) == (4 * H, None)
    assert (thirty.total.received, thirty.total.open, thirty.total.fixed) == (6, 2, 3)
    assert thirty.total.median_first_answer == 2 * H  # 0.5, 1, 2, 3, 4
    assert thirty.total.median_fix == 5 * H

    year_mayor = {f.department: f for f in year.departments}["alcaldia"]  # plus the sign, 200 days ago
    assert (year_mayor.received, year_mayor.fixed) == (2, 1)
    assert (year_mayor.median_first_answer, year_mayor.median_fix) == (7 * H, 72 * H)
    assert (year.total.received, year.total.open, year.total.fixed) == (7, 2, 4)
    assert year.total.median_first_answer == 2.5 * H  # 0.5, 1, 2, 3, 4, 10
    assert year.total.median_fix == 17 * H  # 2, 5, 29, 72

    latest = ["streetlight", "roads", "water", "cleaning", "streetlight", "other", "other"]
    assert [r.category for r in data.latest] == latest
    assert [r.time_to_fix for r in data.latest][:2] == [2 * H, None]
    assert data.latest[0].photo is not None and data.latest[0].photo.startswith("media:")


def test_the_feed_holds_only_public_status_changes(config: Config, database: Database) -> None:
    now = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
    tickets = seed_month(database, now)
    with database.reader.connect() as connection:
        changes = status_changes(connection, config)
    assert len(changes) == 2 + 2 + 2 + 2 + 2 + 2  # lamp, rubbish, leak, bulb, bench, sign
    assert changes[0].ticket == tickets["bulb"] and changes[0].status == "fixed"
    assert {c.ticket for c in changes}.isdisjoint({tickets["party"], tickets["police"], tickets["certificate"]})
    assert len({c.key(config) for c in changes}) == len(changes)


def test_the_json_and_the_page_show_the_same_figures(client: httpx.Client, database: Database) -> None:
    now = datetime.now(UTC)
    tickets = seed_month(database, now)
    body = client.get("/transparency.json").json()
    thirty = body["windows"][0]
    services = next(d for d in thirty["departments"] if d["department"] == "servicios")
    assert services == {
        "department": "servicios",
        "name": "Servicios Municipales",
        "received": 5,
        "open": 2,
        "fixed": 3,
        "median_first_answer_seconds": 5400,
        "median_fix_seconds": 18000,
    }
    assert body["windows"][1]["total"]["median_fix_seconds"] == 17 * 3600
    latest = body["latest"][0]
    assert latest["service_request_id"] == tickets["bulb"]
    assert (latest["status"], latest["detailed_status"], latest["time_to_fix_seconds"]) == ("closed", "fixed", 7200)
    assert latest["media_url"].endswith(f"/photos/{tickets['bulb']}")

    page = client.get("/", headers={"Accept-Language": "es-ES,es;q=0.9"}).text
    assert "<td>Servicios Municipales</td><td>5</td><td>2</td><td>3</td><td>2 horas</td><td>5 horas</td>" in page
    assert "<td>Alcaldía</td><td>1</td><td>0</td><td>0</td><td>4 horas</td><td>—</td>" in page
    assert "<td>Total</td><td>7</td><td>2</td><td>4</td><td>2 horas</td><td>17 horas</td>" in page
    assert "arreglado en 29 horas" in page and "arreglado en 3 días" in page
    for private in ("party", "police", "certificate"):
        assert tickets[private] not in page
