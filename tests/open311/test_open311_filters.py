"""GET requests' filters and pagination: ids, service_code, dates, the 90-day default, page/page_size."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from models.db import Database
from tests.support.plazaweb import json_of, seed_request

BASE = "/open311/v2"


def ids(client: httpx.Client, **params: str) -> list[str]:
    return [r["service_request_id"] for r in json_of(client.get(f"{BASE}/requests.json", params=params))]


@pytest.fixture
def week(database: Database) -> list[str]:
    """Seven public reports, one a day, newest last; alternating streetlight and water."""
    now = datetime.now(UTC)
    return [
        seed_request(database, created_at=now - timedelta(days=7 - day), category=("streetlight", "water")[day % 2])[1]
        for day in range(7)
    ]


def test_pages_of_three_cover_everything_once_newest_first(client: httpx.Client, week: list[str]) -> None:
    pages = [ids(client, page_size="3", page=str(page)) for page in (1, 2, 3, 4)]
    assert [len(p) for p in pages] == [3, 3, 1, 0]
    assert [ticket for page in pages for ticket in page] == list(reversed(week))


def test_the_default_page_size_is_50_and_at_most_200(client: httpx.Client, database: Database) -> None:
    now = datetime.now(UTC)
    for minute in range(55):
        seed_request(database, created_at=now - timedelta(minutes=minute + 1))
    assert len(ids(client)) == 50
    assert len(ids(client, page="2")) == 5
    assert len(ids(client, page_size="200")) == 55
    assert client.get(f"{BASE}/requests.json", params={"page_size": "201"}).status_code == 400


def test_filter_by_service_code_and_ids(client: httpx.Client, week: list[str]) -> None:
    assert ids(client, service_code="water") == [week[5], week[3], week[1]]
    assert ids(client, service_code="streetlight,water") == list(reversed(week))
    # with ids the other filters are ignored, as the spec says
    chosen = ids(client, service_request_id=f"{week[0]},{week[1].lower()}", service_code="roads")
    assert sorted(chosen) == sorted([week[0], week[1]])


def test_filter_by_dates_in_w3c(client: httpx.Client, week: list[str]) -> None:
    now = datetime.now(UTC)
    start = (now - timedelta(days=5, hours=12)).isoformat()
    end = (now - timedelta(days=2, hours=12)).isoformat().replace("+00:00", "Z")
    assert ids(client, start_date=start, end_date=end) == [week[4], week[3], week[2]]
    assert ids(client, start_date=start) == list(reversed(week[2:]))
    assert ids(client, end_date=end) == list(reversed(week[:5]))


def test_without_dates_only_the_last_90_days_are_listed(client: httpx.Client, database: Database) -> None:
    now = datetime.now(UTC)
    _, old = seed_request(database, created_at=now - timedelta(days=120))
    _, recent = seed_request(database, created_at=now - timedelta(days=10))
    assert ids(client) == [recent]
    assert ids(client, start_date=(now - timedelta(days=200)).isoformat()) == [recent, old]
    assert ids(client, service_request_id=old) == [old]
