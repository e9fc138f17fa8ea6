"""GeoReport v2 conformance: every endpoint in .json (bare arrays, string codes) and .xml (the spec's names).

The error cases too: 400, 403 and 404 with the spec's error list in both formats.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from models.db import Database
from tests.support.plazaweb import json_of, seed_request, seed_update, xml_root

SERVICE_FIELDS = ["service_code", "service_name", "description", "metadata", "type", "keywords", "group"]
REQUEST_FIELDS = [
    "service_request_id",
    "status",
    "status_notes",
    "service_name",
    "service_code",
    "description",
    "agency_responsible",
    "service_notice",
    "requested_datetime",
    "updated_datetime",
    "expected_datetime",
    "address",
    "address_id",
    "zipcode",
    "lat",
    "long",
    "media_url",
]
BASE = "/open311/v2"


def check_json_error(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    body = json_of(response)
    assert isinstance(body, list) and len(body) == 1
    assert set(body[0]) == {"code", "description"}
    assert body[0]["code"] == status and body[0]["description"]
    return str(body[0]["description"])


def check_xml_error(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("text/xml")
    root = xml_root(response.text)
    assert root.tag == "errors"
    errors = root.findall("error")
    assert len(errors) == 1
    assert [child.tag for child in errors[0]] == ["code", "description"]
    assert errors[0].findtext("code") == str(status) and errors[0].findtext("description")
    return str(errors[0].findtext("description"))


@pytest.fixture
def seeded(database: Database) -> dict[str, str]:
    now = datetime.now(UTC)
    _, lamp = seed_request(database, created_at=now - timedelta(days=2), description="Farola apagada")
    water_id, water = seed_request(
        database, created_at=now - timedelta(days=1), category="water", description="Fuga en la fuente"
    )
    seed_update(database, water_id, "received", "acknowledged", now - timedelta(hours=20))
    seed_update(database, water_id, "acknowledged", "fixed", now - timedelta(hours=2), note="Cambiada la junta")
    return {"lamp": lamp, "water": water}


def test_discovery_json_and_xml(client: httpx.Client) -> None:
    body = json_of(client.get(f"{BASE}/discovery.json"))
    assert set(body) == {"changeset", "contact", "key_service", "endpoints"}
    (endpoint,) = body["endpoints"]
    assert endpoint["specification"] == "http://wiki.open311.org/GeoReport_v2"
    assert endpoint["url"] == f"{client.base_url}/open311/v2"
    assert endpoint["formats"] == ["text/xml", "application/json"]
    assert endpoint["type"] == "production"

    root = xml_root(client.get(f"{BASE}/discovery.xml").text)
    assert root.tag == "discovery"
    assert [child.tag for child in root] == ["changeset", "contact", "key_service", "endpoints"]
    xml_endpoint = root.find("endpoints/endpoint")
    assert xml_endpoint is not None
    assert [child.tag for child in xml_endpoint] == ["specification", "url", "changeset", "type", "formats"]
    assert [f.text for f in xml_endpoint.findall("formats/format")] == ["text/xml", "application/json"]


def test_services_json_lists_every_category_with_string_codes(client: httpx.Client) -> None:
    services = json_of(client.get(f"{BASE}/services.json"))
    assert isinstance(services, list)
    assert [s["service_code"] for s in services] == ["streetlight", "cleaning", "water", "roads", "noise", "other"]
    for service in services:
        assert list(service) == SERVICE_FIELDS
        assert isinstance(service["service_code"], str)
        assert service["metadata"] is False and service["type"] == "realtime"
    by_code = {s["service_code"]: s for s in services}
    assert by_code["streetlight"]["service_name"] == "Alumbrado público"
    assert by_code["streetlight"]["group"] == "Servicios Municipales"
    assert by_code["noise"]["keywords"] == "private"  # reports to the police: listed, never shown
    assert by_code["streetlight"]["keywords"] == ""
    english = json_of(client.get(f"{BASE}/services.json", params={"locale": "en"}))
    assert english[0]["service_name"] == "Street lighting"


def test_services_xml(client: httpx.Client) -> None:
    root = xml_root(client.get(f"{BASE}/services.xml").text)
    assert root.tag == "services"
    services = root.findall("service")
    assert len(services) == 6
    for service in services:
        assert [child.tag for child in service] == SERVICE_FIELDS
        assert service.findtext("metadata") == "false"
    assert services[4].findtext("service_code") == "noise" and services[4].findtext("keywords") == "private"


def test_service_definition_json_and_xml(client: httpx.Client) -> None:
    body = json_of(client.get(f"{BASE}/services/streetlight.json"))
    assert body == {"service_code": "streetlight", "attributes": []}
    root = xml_root(client.get(f"{BASE}/services/streetlight.xml").text)
    assert root.tag == "service_definition"
    assert [child.tag for child in root] == ["service_code", "attributes"]
    assert root.findtext("service_code") == "streetlight"
    assert root.findall("attributes/attribute") == []


def test_an_unknown_service_is_404_in_both_formats(client: httpx.Client) -> None:
    check_json_error(client.get(f"{BASE}/services/potholes.json"), 404)
    check_xml_error(client.get(f"{BASE}/services/potholes.xml"), 404)


def test_requests_json_is_a_bare_array_of_the_spec_fields(client: httpx.Client, seeded: dict[str, str]) -> None:
    requests = json_of(client.get(f"{BASE}/requests.json"))
    assert isinstance(requests, list)
    assert [r["service_request_id"] for r in requests] == [seeded["water"], seeded["lamp"]]  # newest first
    for request in requests:
        assert list(request) == REQUEST_FIELDS
        assert isinstance(request["service_code"], str) and isinstance(request["service_request_id"], str)
        assert request["expected_datetime"] is None
        datetime.fromisoformat(request["requested_datetime"])  # w3c with an offset
        assert request["requested_datetime"][-6] in "+-"
    water, lamp = requests
    assert water["status"] == "closed" and water["status_notes"] == "Cambiada la junta"
    assert water["agency_responsible"] == "Servicios Municipales" and water["service_name"] == "Agua"
    assert datetime.fromisoformat(water["updated_datetime"]) > datetime.fromisoformat(water["requested_datetime"])
    assert lamp["status"] == "open" and lamp["status_notes"] is None
    assert (lamp["lat"], lamp["long"], lamp["address"]) == (37.2, -3.6, "Calle Real 1")
    assert lamp["description"] == "Farola apagada"


def test_requests_xml(client: httpx.Client, seeded: dict[str, str]) -> None:
    response = client.get(f"{BASE}/requests.xml")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/xml")
    root = xml_root(response.text)
    assert root.tag == "service_requests"
    requests = root.findall("request")
    assert len(requests) == 2
    for request in requests:
        assert [child.tag for child in request] == REQUEST_FIELDS
    assert requests[0].findtext("service_request_id") == seeded["water"]
    assert requests[0].findtext("status") == "closed"
    assert requests[0].findtext("status_notes") == "Cambiada la junta"
    assert requests[1].findtext("status_notes") in (None, "")


def test_one_request_by_id_in_both_formats(client: httpx.Client, seeded: dict[str, str]) -> None:
    body = json_of(client.get(f"{BASE}/requests/{seeded['lamp']}.json"))
    assert isinstance(body, list) and len(body) == 1 and body[0]["service_request_id"] == seeded["lamp"]
    root = xml_root(client.get(f"{BASE}/requests/{seeded['lamp']}.xml").text)
    assert root.tag == "service_requests"
    assert [r.findtext("service_request_id") for r in root.findall("request")] == [seeded["lamp"]]
    check_json_error(client.get(f"{BASE}/requests/JUN-2026-999999.json"), 404)
    check_xml_error(client.get(f"{BASE}/requests/JUN-2026-999999.xml"), 404)


def test_tokens_give_the_request_id_in_both_formats(client: httpx.Client, seeded: dict[str, str]) -> None:
    body = json_of(client.get(f"{BASE}/tokens/{seeded['lamp']}.json"))
    assert body == [{"service_request_id": seeded["lamp"], "token": seeded["lamp"]}]
    root = xml_root(client.get(f"{BASE}/tokens/{seeded['lamp']}.xml").text)
    assert root.tag == "service_requests"
    (request,) = root.findall("request")
    assert [child.tag for child in request] == ["service_request_id", "token"]
    check_json_error(client.get(f"{BASE}/tokens/nope.json"), 404)
    check_xml_error(client.get(f"{BASE}/tokens/nope.xml"), 404)


@pytest.mark.parametrize(
    ("params", "names"),
    [
        ({"start_date": "yesterday"}, "start_date"),
        ({"end_date": "2026-13-01"}, "end_date"),
        ({"status": "pending"}, "status"),
        ({"page": "0"}, "page"),
        ({"page_size": "500"}, "page_size"),
        ({"start_date": "2026-11-10T00:00:00Z", "end_date": "2026-11-01T00:00:00Z"}, "end_date"),
    ],
)
def test_bad_filters_are_400_naming_the_parameter(client: httpx.Client, params: dict[str, str], names: str) -> None:
    assert names in check_json_error(client.get(f"{BASE}/requests.json", params=params), 400)
    assert names in check_xml_error(client.get(f"{BASE}/requests.xml", params=params), 400)


def test_unknown_formats_and_resources_are_404(client: httpx.Client) -> None:
    check_json_error(client.get(f"{BASE}/requests.csv"), 404)
    check_json_error(client.get(f"{BASE}/services"), 404)
    check_json_error(client.get(f"{BASE}/nothing.json"), 404)
    check_xml_error(client.get(f"{BASE}/nothing.xml"), 404)


def test_post_without_or_with_a_wrong_key_is_403_in_both_formats(client: httpx.Client, api_key: str) -> None:
    fields = {"service_code": "streetlight", "address_string": "Calle Real 3"}
    check_json_error(client.post(f"{BASE}/requests.json", data=fields), 403)
    check_xml_error(client.post(f"{BASE}/requests.xml", data=fields), 403)
    check_json_error(client.post(f"{BASE}/requests.json", data={**fields, "api_key": api_key + "x"}), 403)
    check_xml_error(client.post(f"{BASE}/requests.xml", data={**fields, "api_key": "plz_guess"}), 403)


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"service_code": "streetlight"}, "location"),
        ({"service_code": "streetlight", "lat": "37.2"}, "long"),
        ({"service_code": "streetlight", "lat": "north", "long": "-3.6"}, "lat"),
        ({"service_code": "streetlight", "lat": "137.2", "long": "-3.6"}, "lat"),
        ({"service_code": "potholes", "address_string": "Calle Real 3"}, "service_code"),
        ({"address_string": "Calle Real 3"}, "service_code"),
        ({"service_code": "water", "address_string": "Calle Real 3", "media_url": "file:///etc/passwd"}, "media_url"),
    ],
)
def test_bad_posts_are_400_in_both_formats(
    client: httpx.Client, api_key: str, fields: dict[str, str], reason: str
) -> None:
    assert reason in check_json_error(client.post(f"{BASE}/requests.json", data={**fields, "api_key": api_key}), 400)
    assert reason in check_xml_error(client.post(f"{BASE}/requests.xml", data={**fields, "api_key": api_key}), 400)


def test_a_post_that_is_not_a_form_is_400(client: httpx.Client, api_key: str) -> None:
    response = client.post(f"{BASE}/requests.json", json={"api_key": api_key, "service_code": "water"})
    assert "form" in check_json_error(response, 400)
