"""The whole ASGI app over one test database, for Open311 and public-page tests, plus seeding helpers.

``web_client`` builds the app (without starting the bot's background work:
these tests drive the bot with :mod:`tests.support.driver` when they need a
conversation) and serves it over real HTTP (uvicorn in a thread), with an
httpx client pointed at it. ``seed_request``
inserts a service request with known times, and ``seed_update`` a status
change, for figures that must come out exactly.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import httpx
from sqlalchemy import insert, update

from adapters.web import WebChannel
from bot.apikeys import create_key
from bot.config import Config
from bot.runtime import Plaza
from bot.web.app import create_app
from models import RequestUpdate, ServiceRequest
from models.db import Database
from tests.support.server import AppServer

REQUESTS = ServiceRequest.__table__
UPDATES = RequestUpdate.__table__


@contextmanager
def web_client(config: Config, database: Database) -> Iterator[httpx.Client]:
    web = WebChannel()
    plaza = Plaza(config, [web], database=database)
    app = create_app(plaza, web, manage_lifespan=False)
    with AppServer(app) as server, httpx.Client(base_url=server.base_url, timeout=15.0) as client:
        yield client


def new_key(database: Database, name: str = "civic-app") -> str:
    with database.writer.begin() as connection:
        return create_key(connection, name)


def xml_root(text: str) -> ET.Element:
    assert text.startswith('<?xml version="1.0" encoding="UTF-8"?>'), text[:80]
    return ET.fromstring(text.encode("utf-8"))


def seed_request(
    database: Database,
    *,
    created_at: datetime,
    category: str = "streetlight",
    department: str = "servicios",
    status: str = "received",
    private: bool = False,
    kind: str = "incident",
    description: str = "Una farola apagada",
    photo_ref: str | None = None,
    address: str | None = "Calle Real 1",
    channel: str = "test",
) -> tuple[int, str]:
    """Insert one request as the bot would have stored it; returns (id, ticket)."""
    with database.writer.begin() as connection:
        request_id = connection.execute(
            insert(REQUESTS)
            .values(
                kind=kind,
                category=category,
                department=department,
                description=description,
                photo_ref=photo_ref,
                address=address,
                latitude=37.2,
                longitude=-3.6,
                status=status,
                private=private,
                language="es",
                channel=channel,
                created_at=created_at,
                updated_at=created_at,
            )
            .returning(REQUESTS.c.id)
        ).scalar_one()
        ticket = f"JUN-{created_at.year}-{request_id:06d}"
        connection.execute(update(REQUESTS).where(REQUESTS.c.id == request_id).values(ticket=ticket))
    return int(request_id), ticket


def seed_update(
    database: Database, request_id: int, old_status: str, status: str, at: datetime, note: str | None = None
) -> None:
    """Record one status change at ``at`` and set the request's status to it."""
    with database.writer.begin() as connection:
        values = {"request_id": request_id, "old_status": old_status, "status": status, "note": note, "created_at": at}
        connection.execute(insert(UPDATES).values(values))
        connection.execute(update(REQUESTS).where(REQUESTS.c.id == request_id).values(status=status, updated_at=at))


def json_of(response: Any) -> Any:
    assert response.headers["content-type"].startswith("application/json"), response.headers["content-type"]
    return response.json()
