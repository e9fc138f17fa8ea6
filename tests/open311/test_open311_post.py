"""POST requests: the same service request a chat report makes (ticket, department, inbox), audited by key name."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import select

from bot.audit import entries
from bot.config import Config
from models import MediaItem, ServiceRequest
from models.db import Database
from tests.support.driver import Bot
from tests.support.plazaweb import json_of, seed_request, seed_update, xml_root
from tests.support.server import tiny_png

REQUESTS = ServiceRequest.__table__
MEDIA = MediaItem.__table__
BASE = "/open311/v2"
TICKET = re.compile(r"JUN-\d{4}-\d{6}")


def row_of(database: Database, ticket: str) -> dict[str, object]:
    with database.reader.connect() as connection:
        row = connection.execute(select(REQUESTS).where(REQUESTS.c.ticket == ticket)).mappings().one()
    return dict(row)


def post(client: httpx.Client, api_key: str, **fields: str) -> str:
    response = client.post(f"{BASE}/requests.json", data={"api_key": api_key, **fields})
    assert response.status_code == 200, response.text
    body = json_of(response)
    assert isinstance(body, list) and len(body) == 1
    assert set(body[0]) == {"service_request_id", "token", "service_notice", "account_id"}
    assert body[0]["token"] == body[0]["service_request_id"]
    return str(body[0]["service_request_id"])


def chat_report(config: Config, database: Database, category_number: str, address: str) -> str:
    chat = Bot(config, database).chat(chat_id="vecina-4471")
    chat.say("hola")
    chat.say("1")
    chat.say(category_number)
    chat.say("La farola de la esquina no enciende")
    chat.say("omitir")
    chat.say(address)
    answer = chat.say("sí")
    found = TICKET.findall(answer)
    assert found, answer
    return found[0]


def test_a_post_with_lat_long_is_listed_and_routed_like_a_chat_report(
    config: Config, database: Database, client: httpx.Client, api_key: str
) -> None:
    from_chat = chat_report(config, database, "1", "Calle Mayor 9")
    ticket = post(client, api_key, service_code="streetlight", lat="37.1873", long="-3.4411", description="Farola")
    assert TICKET.fullmatch(ticket)
    assert int(ticket[-6:]) == int(from_chat[-6:]) + 1  # one numbering for both
    api_row, chat_row = row_of(database, ticket), row_of(database, from_chat)
    assert (api_row["kind"], api_row["category"], api_row["department"], api_row["private"], api_row["status"]) == (
        chat_row["kind"],
        chat_row["category"],
        chat_row["department"],
        False,
        "received",
    )
    assert api_row["channel"] == "open311" and api_row["resident_id"] is None

    listed = json_of(client.get(f"{BASE}/requests.json"))
    mine = next(r for r in listed if r["service_request_id"] == ticket)
    theirs = next(r for r in listed if r["service_request_id"] == from_chat)
    assert mine["agency_responsible"] == theirs["agency_responsible"] == "Servicios Municipales"
    assert (mine["lat"], mine["long"], mine["status"], mine["description"]) == (37.1873, -3.4411, "open", "Farola")


def test_a_post_with_only_an_address(client: httpx.Client, api_key: str, database: Database) -> None:
    ticket = post(client, api_key, service_code="cleaning", address_string="Plaza de la Iglesia")
    (request,) = json_of(client.get(f"{BASE}/requests/{ticket}.json"))
    assert (request["address"], request["lat"], request["long"]) == ("Plaza de la Iglesia", None, None)
    assert row_of(database, ticket)["department"] == "servicios"


def test_a_post_for_the_other_category_goes_to_the_mayors_office(
    client: httpx.Client, api_key: str, database: Database
) -> None:
    ticket = post(client, api_key, service_code="other", address_string="Camino del cementerio")
    assert row_of(database, ticket)["department"] == "alcaldia"


def test_the_creation_is_audited_with_the_key_name(client: httpx.Client, api_key: str, database: Database) -> None:
    ticket = post(client, api_key, service_code="water", address_string="Fuente de la plaza")
    request_id = int(str(row_of(database, ticket)["id"]))
    with database.reader.connect() as connection:
        (entry,) = entries(connection, request_id=request_id)
    assert (entry.actor, entry.action) == ("api:civic-app", "create_request")
    assert entry.detail["api_key"] == "civic-app" and entry.detail["ticket"] == ticket


def test_a_post_in_xml_answers_in_the_spec_elements(client: httpx.Client, api_key: str) -> None:
    response = client.post(
        f"{BASE}/requests.xml", data={"api_key": api_key, "service_code": "roads", "address_string": "Calle Baja 2"}
    )
    assert response.status_code == 200, response.text
    root = xml_root(response.text)
    assert root.tag == "service_requests"
    (request,) = root.findall("request")
    assert [child.tag for child in request] == ["service_request_id", "token", "service_notice", "account_id"]
    assert TICKET.fullmatch(request.findtext("service_request_id") or "")


def test_media_url_is_kept_and_shown(client: httpx.Client, api_key: str) -> None:
    url = "https://photos.example.org/farola-42.jpg"
    ticket = post(client, api_key, service_code="streetlight", address_string="Calle Real 8", media_url=url)
    (request,) = json_of(client.get(f"{BASE}/requests/{ticket}.json"))
    assert request["media_url"] == url


def test_a_media_file_is_stored_like_a_chat_photo_and_served_publicly(
    client: httpx.Client, api_key: str, database: Database
) -> None:
    png = tiny_png()
    response = client.post(
        f"{BASE}/requests.json",
        data={"api_key": api_key, "service_code": "streetlight", "address_string": "Calle Real 9"},
        files={"media": ("farola.png", png, "image/png")},
    )
    assert response.status_code == 200, response.text
    ticket = json_of(response)[0]["service_request_id"]
    photo_ref = str(row_of(database, ticket)["photo_ref"])
    assert photo_ref.startswith("media:")
    with database.reader.connect() as connection:
        media = connection.execute(select(MEDIA).where(MEDIA.c.id == int(photo_ref[6:]))).mappings().one()
    assert (media["channel"], media["mime_type"], bytes(media["data"])) == ("open311", "image/png", png)
    (request,) = json_of(client.get(f"{BASE}/requests/{ticket}.json"))
    assert request["media_url"] == f"{client.base_url}/photos/{ticket}"
    photo = client.get(request["media_url"])
    assert photo.status_code == 200 and photo.content == png and photo.headers["content-type"] == "image/png"


def test_a_media_file_that_is_not_an_image_is_400(client: httpx.Client, api_key: str, database: Database) -> None:
    response = client.post(
        f"{BASE}/requests.json",
        data={"api_key": api_key, "service_code": "streetlight", "address_string": "Calle Real 9"},
        files={"media": ("script.sh", b"#!/bin/sh\necho hi\n", "image/png")},
    )
    assert response.status_code == 400 and "image" in json_of(response)[0]["description"]
    with database.reader.connect() as connection:
        assert connection.execute(select(REQUESTS.c.id)).first() is None


def test_a_revoked_key_is_refused(client: httpx.Client, api_key: str, database: Database) -> None:
    from bot.apikeys import revoke_key

    with database.writer.begin() as connection:
        assert revoke_key(connection, "civic-app")
    response = client.post(
        f"{BASE}/requests.json", data={"api_key": api_key, "service_code": "water", "address_string": "Calle Real 1"}
    )
    assert response.status_code == 403
    with database.reader.connect() as connection:
        assert connection.execute(select(REQUESTS.c.id)).first() is None


def test_the_key_may_come_in_the_query_string(client: httpx.Client, api_key: str) -> None:
    response = client.post(
        f"{BASE}/requests.json",
        params={"api_key": api_key},
        data={"service_code": "water", "address_string": "Calle Real 1"},
    )
    assert response.status_code == 200, response.text


def test_every_internal_status_maps_to_open_or_closed(database: Database, client: httpx.Client) -> None:
    now = datetime.now(UTC)
    expected = {}
    previous = "received"
    for hours, status in enumerate(
        ("received", "acknowledged", "in_progress", "fixed", "duplicate", "not_ours", "closed"), start=1
    ):
        request_id, ticket = seed_request(database, created_at=now - timedelta(hours=hours + 10))
        if status != previous:
            seed_update(database, request_id, "received", status, now - timedelta(hours=hours), note=f"nota {status}")
        expected[ticket] = ("open" if status in ("received", "acknowledged", "in_progress") else "closed", status)
    listed = {r["service_request_id"]: r for r in json_of(client.get(f"{BASE}/requests.json"))}
    assert {ticket: listed[ticket]["status"] for ticket in expected} == {t: e[0] for t, e in expected.items()}
    for ticket, (_, status) in expected.items():
        assert listed[ticket]["status_notes"] == (None if status == "received" else f"nota {status}")
    assert {r["service_request_id"] for r in json_of(client.get(f"{BASE}/requests.json?status=open"))} == {
        t for t, e in expected.items() if e[0] == "open"
    }
    assert {r["service_request_id"] for r in json_of(client.get(f"{BASE}/requests.json?status=closed"))} == {
        t for t, e in expected.items() if e[0] == "closed"
    }
