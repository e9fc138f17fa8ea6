"""Officials change a service request's status from the inbox; the reporter is told, the change audited."""

from __future__ import annotations

import httpx
from sqlalchemy import select

from models import RequestUpdate, ServiceRequest
from tests.inbox.conftest import Town, csrf_of
from tests.inbox.test_inbox_access import report

REQUESTS = ServiceRequest.__table__
UPDATES = RequestUpdate.__table__


def set_status(town: Town, http: httpx.Client, request_id: int, **fields: str) -> httpx.Response:
    page = http.get(f"/inbox/requests/{request_id}")
    assert page.status_code == 200, page.text
    return http.post(f"/inbox/requests/{request_id}/status", data={"csrf": csrf_of(page), **fields})


def status_of(town: Town, request_id: int) -> str:
    with town.database.reader.connect() as connection:
        return str(connection.execute(select(REQUESTS.c.status).where(REQUESTS.c.id == request_id)).scalar_one())


def test_a_status_change_tells_the_reporter_and_is_audited(town: Town) -> None:
    town.official("marta", "servicios")
    request_id = report(town, "lucia", "servicios", "JUN-2026-000001", "Farola apagada", latitude=37.1, longitude=-3.6)
    chat = town.resident("lucia")
    chat.pop()
    http = town.login("marta")
    listing = http.get("/inbox/requests")
    assert "JUN-2026-000001" in listing.text and "recibido" in listing.text
    page = http.get(f"/inbox/requests/{request_id}")
    assert "openstreetmap.org/?mlat=37.100000&amp;mlon=-3.600000" in page.text
    response = set_status(town, http, request_id, status="fixed", note="Cambiada la bombilla")
    assert (response.status_code, response.headers["location"]) == (303, f"/inbox/requests/{request_id}?done=status")
    assert status_of(town, request_id) == "fixed"
    [told] = [reply.text for reply in chat.pop()]
    assert "JUN-2026-000001" in told and "arreglado" in told and "Cambiada la bombilla" in told
    [entry] = town.audit(request_id=request_id)
    assert (entry.actor, entry.action) == ("marta", "request_status")
    assert entry.detail["from"] == "received" and entry.detail["to"] == "fixed" and entry.detail["notified"] == 1
    shown = http.get(f"/inbox/requests/{request_id}?done=status")
    assert "Estado cambiado" in shown.text and "Cambiada la bombilla" in shown.text
    assert "/inbox/requests/" in http.get("/inbox/requests", params={"list": "closed"}).text


def test_a_duplicate_names_the_other_ticket_and_not_ours_says_where_to_go(town: Town) -> None:
    town.official("marta", "servicios")
    first = report(town, "lucia", "servicios", "JUN-2026-000001", "Farola apagada")
    second = report(town, "pedro", "servicios", "JUN-2026-000002", "La farola no va")
    third = report(town, "ana", "servicios", "JUN-2026-000003", "La autovía tiene un bache")
    http = town.login("marta")
    missing = set_status(town, http, second, status="duplicate")
    assert missing.status_code == 400 and "ticket" in missing.text
    unknown = set_status(town, http, second, status="duplicate", duplicate_of="JUN-2026-999999")
    assert unknown.status_code == 400
    assert status_of(town, second) == "received"
    assert set_status(town, http, second, status="duplicate", duplicate_of="jun-2026-000001").status_code == 303
    [told] = [reply.text for reply in town.resident("pedro").pop() if "JUN-2026-000002" in reply.text]
    assert "JUN-2026-000001" in told
    assert set_status(town, http, third, status="not_ours").status_code == 400
    done = set_status(town, http, third, status="not_ours", where="Carreteras del Estado, 958 000 000")
    assert done.status_code == 303
    [told] = [reply.text for reply in town.resident("ana").pop() if "JUN-2026-000003" in reply.text]
    assert "Carreteras del Estado, 958 000 000" in told
    assert status_of(town, first) == "received"
    bad = set_status(town, http, first, status="exploded")
    assert bad.status_code == 400 and "Traceback" not in bad.text
    with town.database.reader.connect() as connection:
        assert len(connection.execute(select(UPDATES)).all()) == 2
