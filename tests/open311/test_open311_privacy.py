"""Privacy: police and other private reports, from the chat or from POST, appear in no public output,
and no public output ever carries what a reporter said about themselves."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import select

from bot.config import Config
from models import ServiceRequest
from models.db import Database
from tests.support.driver import Bot
from tests.support.plazaweb import json_of, seed_request, seed_update
from tests.support.server import tiny_png

BASE = "/open311/v2"
REQUESTS = ServiceRequest.__table__
TICKET = re.compile(r"JUN-\d{4}-\d{6}")
PERSON = {
    "first_name": "Remedios",
    "last_name": "Zafra-Quintanilla",
    "email": "remedios.zq@correo.example",
    "phone": "+34600111222",
    "account_id": "acct-77810",
    "device_id": "device-5c1f9e",
}
CHAT_ID = "vecino-privado-5512"


def police_report_in_the_chat(config: Config, database: Database) -> str:
    chat = Bot(config, database).chat(chat_id=CHAT_ID)
    chat.say()
    chat.say("avisar a la policía local")
    chat.say("no")
    chat.say("Mi vecino del 3º grita cada noche")
    chat.say("Calle Escondida 4")
    answer = chat.say("sí")
    return TICKET.findall(answer)[0]


def noise_report_in_the_chat(config: Config, database: Database) -> str:
    chat = Bot(config, database).chat(chat_id=CHAT_ID + "-b")
    chat.say("hola")
    chat.say("1")
    chat.say("5")  # Ruido: the Policía Local's, private
    chat.say("Fiesta con altavoces en el bajo B")
    chat.say("omitir")
    chat.say("Calle Silencio 7")
    answer = chat.say("sí")
    return TICKET.findall(answer)[0]


@pytest.fixture
def reports(config: Config, database: Database, client: httpx.Client, api_key: str) -> dict[str, str]:
    police = police_report_in_the_chat(config, database)
    noise_chat = noise_report_in_the_chat(config, database)
    response = client.post(
        f"{BASE}/requests.json",
        data={
            "api_key": api_key,
            "service_code": "noise",
            "address_string": "Calle Oculta 12",
            "description": "Ruido de taller por la noche",
            **PERSON,
        },
        files={"media": ("ruido.png", tiny_png(), "image/png")},
    )
    assert response.status_code == 200, response.text
    noise_api = json_of(response)[0]["service_request_id"]
    response = client.post(
        f"{BASE}/requests.json",
        data={"api_key": api_key, "service_code": "streetlight", "address_string": "Calle Clara 1", **PERSON},
    )
    assert response.status_code == 200, response.text
    public = json_of(response)[0]["service_request_id"]
    now = datetime.now(UTC)
    procedure_id, procedure = seed_request(
        database,
        created_at=now - timedelta(hours=3),
        kind="procedure",
        category="residence_certificate",
        department="secretaria",
        description="Certificado para Remedios",
    )
    seed_update(database, procedure_id, "received", "fixed", now - timedelta(hours=1), note="Listo")
    with database.reader.connect() as connection:
        private_ids = list(
            connection.execute(
                select(REQUESTS.c.id).where(REQUESTS.c.ticket.in_([police, noise_chat, noise_api]))
            ).scalars()
        )
    for request_id in private_ids:  # status changes the feed and figures would show, were they public
        seed_update(database, request_id, "received", "fixed", now, note="Resuelto en privado")
    assert len(private_ids) == 3
    return {
        "police": police,
        "noise_chat": noise_chat,
        "noise_api": noise_api,
        "procedure": procedure,
        "public": public,
    }


def every_public_body(client: httpx.Client, tickets: list[str]) -> list[str]:
    bodies = []
    for fmt in ("json", "xml"):
        bodies.append(client.get(f"{BASE}/requests.{fmt}").text)
        bodies.append(client.get(f"{BASE}/requests.{fmt}", params={"service_code": "noise"}).text)
        bodies.append(client.get(f"{BASE}/requests.{fmt}", params={"service_request_id": ",".join(tickets)}).text)
        bodies.append(client.get(f"{BASE}/requests.{fmt}", params={"start_date": "2000-01-01T00:00:00Z"}).text)
        bodies.append(client.get(f"{BASE}/services.{fmt}").text)
        for ticket in tickets:
            bodies.append(client.get(f"{BASE}/requests/{ticket}.{fmt}").text)
            bodies.append(client.get(f"{BASE}/tokens/{ticket}.{fmt}").text)
    for path in ("/", "/?lang=en", "/feed.atom", "/feed.atom?lang=en", "/transparency.json"):
        response = client.get(path)
        assert response.status_code == 200
        bodies.append(response.text)
    return bodies


def test_private_reports_appear_in_no_public_output(client: httpx.Client, reports: dict[str, str]) -> None:
    hidden = [reports["police"], reports["noise_chat"], reports["noise_api"], reports["procedure"]]
    everything = [*hidden, reports["public"]]
    bodies = every_public_body(client, everything)
    joined = "\n".join(bodies)
    assert reports["public"] in joined  # the public one is there, so the search means something
    for ticket in hidden:
        assert ticket not in joined, ticket
    for text in (
        "Mi vecino del 3º grita",
        "Fiesta con altavoces",
        "Ruido de taller",
        "Calle Escondida",
        "Calle Silencio",
        "Calle Oculta",
        "Certificado para Remedios",
        "Resuelto en privado",
    ):
        assert text not in joined, text
    for ticket in hidden:
        for fmt in ("json", "xml"):
            assert client.get(f"{BASE}/requests/{ticket}.{fmt}").status_code == 404
            assert client.get(f"{BASE}/tokens/{ticket}.{fmt}").status_code == 404
        assert client.get(f"/photos/{ticket}").status_code == 404
    figures = client.get("/transparency.json").json()
    for window in figures["windows"]:
        assert {d["department"] for d in window["departments"]}.isdisjoint({"policia", "sociales"})
        assert window["total"]["received"] == 1 and window["total"]["fixed"] == 0


def test_no_get_carries_the_reporters_name_email_phone_account_or_chat(
    client: httpx.Client, reports: dict[str, str]
) -> None:
    joined = "\n".join(every_public_body(client, list(reports.values())))
    assert reports["public"] in joined
    for value in (*PERSON.values(), CHAT_ID, "civic-app"):
        assert value not in joined, value
