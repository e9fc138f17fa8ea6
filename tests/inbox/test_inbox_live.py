"""Live updates: the conversation page's event stream delivers a resident's new message; queues refresh."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import httpx

from tests.inbox.conftest import Town


def read_events(response: httpx.Response, wanted: str, timeout: float = 15.0) -> dict[str, Any]:
    """Read server-sent events until one named ``wanted`` arrives; its data and id."""
    name, data, event_id = "", "", ""
    deadline = time.monotonic() + timeout
    for line in response.iter_lines():
        assert time.monotonic() < deadline, f"no {wanted} event in {timeout} s"
        if line.startswith("event: "):
            name = line.removeprefix("event: ")
        elif line.startswith("data: "):
            data = line.removeprefix("data: ")
        elif line.startswith("id: "):
            event_id = line.removeprefix("id: ")
        elif line == "":
            if name == wanted:
                return {"id": event_id, **json.loads(data)}
            name, data = "", ""
    raise AssertionError(f"the stream ended before a {wanted} event")


def test_a_new_resident_message_reaches_the_open_conversation_page(town: Town) -> None:
    town.official("marta", "servicios")
    chat = town.resident("lucia")
    conversation_id = town.ask_for(chat, "Servicios Municipales", "bache")
    http = town.login("marta")
    page = http.get(f"/inbox/conversations/{conversation_id}")
    live = page.text.split('data-live="')[1].split('"')[0].replace("&amp;", "&")
    assert live.startswith(f"/inbox/conversations/{conversation_id}/events?after=")

    later = threading.Timer(0.5, lambda: chat.say("<b>Ahora</b> hay dos baches"))
    later.start()
    try:
        with http.stream("GET", live, headers={"accept": "text/event-stream"}) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            event = read_events(response, "entries")
    finally:
        later.join()
    assert "&lt;b&gt;Ahora&lt;/b&gt; hay dos baches" in event["html"]
    assert "<b>" not in event["html"]
    assert 'data-testid="entry-resident"' in event["html"]
    # resuming from that event's id gives only what came after it
    chat.say("tercer mensaje")
    with http.stream(
        "GET", f"/inbox/conversations/{conversation_id}/events", headers={"last-event-id": event["id"]}
    ) as response:
        resumed = read_events(response, "entries")
    assert "tercer mensaje" in resumed["html"] and "dos baches" not in resumed["html"]


def test_the_queue_stream_refreshes_when_a_resident_asks_for_a_person(town: Town) -> None:
    town.official("marta", "servicios")
    http = town.login("marta")
    page = http.get("/inbox/queues/waiting")
    assert 'data-testid="queue-empty"' in page.text
    later = threading.Timer(0.5, lambda: town.ask_for(town.resident("lucia"), "Servicios Municipales", "farola"))
    later.start()
    try:
        with http.stream("GET", "/inbox/events?which=waiting") as response:
            event = read_events(response, "queue")
    finally:
        later.join()
    assert event["count"] == 1 and "farola" in event["html"]


def test_a_logged_out_official_gets_no_stream(town: Town) -> None:
    town.official("marta", "servicios")
    conversation_id = town.ask_for(town.resident("lucia"), "Servicios Municipales", "bache")
    stranger = town.client()
    response = stranger.get(f"/inbox/conversations/{conversation_id}/events", headers={"accept": "text/event-stream"})
    assert response.status_code == 401


def test_a_disabled_official_is_told_to_log_out_on_the_stream(town: Town) -> None:
    from bot.officials import disable_official

    town.official("marta", "servicios")
    conversation_id = town.ask_for(town.resident("lucia"), "Servicios Municipales", "bache")
    http = town.login("marta")

    def disable() -> None:
        with town.database.writer.begin() as connection:
            disable_official(connection, "marta")

    later = threading.Timer(0.5, disable)
    later.start()
    try:
        with http.stream("GET", f"/inbox/conversations/{conversation_id}/events") as response:
            assert set(read_events(response, "logout")) == {"id"}, "an empty logout event"
    finally:
        later.join()
