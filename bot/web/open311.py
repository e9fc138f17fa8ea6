"""Open311 GeoReport v2 over HTTP under ``/open311/v2/`` (a public contract; the queries are :mod:`bot.open311`).

Every resource comes as ``.json`` (bare arrays; codes and ids as strings)
and ``.xml`` (the spec's element names, UTF-8 with the XML declaration):

- ``GET discovery``: the endpoint, its formats and changeset.
- ``GET services``: config.yaml's incident categories.
- ``GET services/{service_code}``: the service definition (its attributes).
- ``GET requests``: public requests; ``service_request_id`` (comma list),
  ``service_code``, ``start_date``/``end_date`` (w3c), ``status``
  (open/closed), ``page``/``page_size`` (50 by default, at most 200).
- ``POST requests``: form or multipart with ``api_key``, ``service_code``,
  ``lat``+``long`` or ``address_string``, optional ``description``,
  ``media_url`` or a ``media`` image file, and the reporter's own fields
  (never shown). Answers ``[{service_request_id, token, service_notice, account_id}]``.
- ``GET requests/{service_request_id}``, ``GET tokens/{token}``.

Errors are the spec's ``[{"code", "description"}]`` (XML
``<errors><error><code/><description/></error></errors>``): 400 bad input,
403 a missing or wrong ``api_key``, 404 unknown (and private) things.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from xml.etree.ElementTree import Element, SubElement, tostring

import anyio.to_thread
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from adapters.web import MAX_PHOTO_BYTES, sniff_image
from bot.apikeys import check_key
from bot.config import Config
from bot.inbox import Upload, store_upload
from bot.open311 import (
    API_CHANNEL,
    Created,
    Service,
    ServiceRequestView,
    create_request,
    find_request,
    find_requests,
    services,
    w3c,
)
from bot.open311_params import Open311Error, parse_query, parse_submission
from bot.runtime import Plaza

__all__ = ["Open311Api", "open311_routes", "request_json"]

PREFIX = "/open311/v2"
FORMATS = {"json": "application/json; charset=utf-8", "xml": "text/xml; charset=utf-8"}
CHANGESET = "2026-11-24T00:00:00Z"
SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
_PLURALS = {
    "endpoints": "endpoint",
    "formats": "format",
    "attributes": "attribute",
    "values": "value",
}


def _element(parent: Element, name: str, value: Any) -> None:
    node = SubElement(parent, name)
    if value is None:
        return
    if isinstance(value, bool):
        node.text = "true" if value else "false"
    elif isinstance(value, dict):
        for key, item in value.items():
            _element(node, key, item)
    elif isinstance(value, list):
        for item in value:
            _element(node, _PLURALS[name], item)
    else:
        node.text = str(value)


def _xml(root: str, item: str | None, body: Any) -> bytes:
    top = Element(root)
    if item is None:
        for key, value in body.items():
            _element(top, key, value)
    else:
        for entry in body:
            _element(top, item, entry)
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + tostring(top, encoding="unicode").encode("utf-8")


def _respond(fmt: str, root: str, item: str | None, body: Any, status: int = 200) -> Response:
    if fmt == "xml":
        return Response(_xml(root, item, body), status_code=status, media_type=FORMATS["xml"])
    text = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    return Response(text.encode("utf-8"), status_code=status, media_type=FORMATS["json"])


def _error(fmt: str, status: int, description: str) -> Response:
    return _respond(fmt, "errors", "error", [{"code": status, "description": description}], status)


def request_json(view: ServiceRequestView, base_url: str, config: Config) -> dict[str, Any]:
    """One request as the spec's fields, in its order; ``media_url`` made absolute for stored photos."""
    media = view.media
    if media is not None and media.startswith("media:"):
        media = f"{base_url}photos/{view.service_request_id}"
    return {
        "service_request_id": view.service_request_id,
        "status": view.status,
        "status_notes": view.status_notes,
        "service_name": view.service_name,
        "service_code": view.service_code,
        "description": view.description,
        "agency_responsible": view.agency_responsible,
        "service_notice": view.service_notice,
        "requested_datetime": w3c(view.requested_datetime, config),
        "updated_datetime": w3c(view.updated_datetime, config),
        "expected_datetime": None if view.expected_datetime is None else w3c(view.expected_datetime, config),
        "address": view.address,
        "address_id": None,
        "zipcode": None,
        "lat": view.lat,
        "long": view.long,
        "media_url": media,
    }


def _service_json(service: Service) -> dict[str, Any]:
    return {
        "service_code": service.service_code,
        "service_name": service.service_name,
        "description": service.description,
        "metadata": service.metadata,
        "type": service.type,
        "keywords": service.keywords,
        "group": service.group,
    }


class Open311Api:
    """The handlers; database work runs in a thread on the reader (GET) or writer (POST)."""

    def __init__(self, plaza: Plaza) -> None:
        self.plaza = plaza
        self.config = plaza.config

    def _language(self, request: Request) -> str:
        return self.config.language_for(request.query_params.get("locale"))

    @staticmethod
    def _format(request: Request) -> str | None:
        fmt = str(request.path_params.get("format", "")).lower()
        return fmt if fmt in FORMATS else None

    async def discovery(self, request: Request) -> Response:
        fmt = self._format(request)
        if fmt is None:
            return _error("json", 404, "use discovery.json or discovery.xml")
        body = {
            "changeset": CHANGESET,
            "contact": self.config.town_name,
            "key_service": f"ask the town hall of {self.config.town_name} for an api_key",
            "endpoints": [
                {
                    "specification": SPECIFICATION,
                    "url": f"{request.base_url}open311/v2",
                    "changeset": CHANGESET,
                    "type": "production",
                    "formats": ["text/xml", "application/json"],
                }
            ],
        }
        return _respond(fmt, "discovery", None, body)

    async def services(self, request: Request) -> Response:
        fmt = self._format(request)
        if fmt is None:
            return _error("json", 404, "use services.json or services.xml")
        listed = [_service_json(service) for service in services(self.config, self._language(request))]
        return _respond(fmt, "services", "service", listed)

    async def service(self, request: Request) -> Response:
        fmt = self._format(request)
        if fmt is None:
            return _error("json", 404, "use services/{service_code}.json or .xml")
        code = request.path_params["code"]
        found = {s.service_code: s for s in services(self.config, self._language(request))}.get(code)
        if found is None:
            return _error(fmt, 404, f"no service {code!r}; GET services lists them")
        definition = {
            "service_code": found.service_code,
            "attributes": [
                {
                    "variable": attribute.variable,
                    "code": attribute.code,
                    "datatype": attribute.datatype,
                    "required": attribute.required,
                    "datatype_description": attribute.datatype_description,
                    "order": attribute.order,
                    "description": attribute.description,
                    "values": [{"key": key, "name": name} for key, name in attribute.values],
                }
                for attribute in found.attributes
            ],
        }
        return _respond(fmt, "service_definition", None, definition)

    async def requests(self, request: Request) -> Response:
        fmt = self._format(request)
        if fmt is None:
            return _error("json", 404, "use requests.json or requests.xml")
        try:
            query = parse_query(request.query_params, self.config)
        except Open311Error as error:
            return _error(fmt, error.status, error.description)
        language = self._language(request)

        def load() -> list[ServiceRequestView]:
            with self.plaza.database.reader.connect() as connection:
                return find_requests(connection, self.config, query, language, now=datetime.now(UTC))

        views = await anyio.to_thread.run_sync(load)
        base = str(request.base_url)
        return _respond(fmt, "service_requests", "request", [request_json(v, base, self.config) for v in views])

    async def one_request(self, request: Request) -> Response:
        fmt = self._format(request)
        if fmt is None:
            return _error("json", 404, "use requests/{service_request_id}.json or .xml")
        view = await self._find(request.path_params["id"], self._language(request))
        if view is None:
            return _error(fmt, 404, "no such service request")
        return _respond(fmt, "service_requests", "request", [request_json(view, str(request.base_url), self.config)])

    async def token(self, request: Request) -> Response:
        fmt = self._format(request)
        if fmt is None:
            return _error("json", 404, "use tokens/{token}.json or .xml")
        view = await self._find(request.path_params["token"], self._language(request))
        if view is None:
            return _error(fmt, 404, "no service request for that token")
        body = [{"service_request_id": view.service_request_id, "token": view.service_request_id}]
        return _respond(fmt, "service_requests", "request", body)

    async def _find(self, service_request_id: str, language: str) -> ServiceRequestView | None:
        def load() -> ServiceRequestView | None:
            with self.plaza.database.reader.connect() as connection:
                return find_request(connection, self.config, service_request_id, language)

        return await anyio.to_thread.run_sync(load)

    async def create(self, request: Request) -> Response:
        fmt = self._format(request)
        if fmt is None:
            return _error("json", 404, "use requests.json or requests.xml")
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > MAX_PHOTO_BYTES + 64 * 1024:
            return _error(fmt, 400, f"the request is larger than {MAX_PHOTO_BYTES // (1024 * 1024)} MB")
        try:
            fields, upload = await self._read_form(request)
        except Open311Error as error:
            return _error(fmt, error.status, error.description)
        key = fields.get("api_key") or request.query_params.get("api_key")

        def store() -> Created:
            with self.plaza.database.writer.begin() as connection:
                name = check_key(connection, key)
                if name is None:
                    raise Open311Error(403, "a valid api_key is required to create a service request")
                submission = parse_submission(fields, self.config)
                photo_ref = None if upload is None else store_upload(connection, API_CHANNEL, name, upload)
                return create_request(
                    connection, self.config, submission, api_key=name, photo_ref=photo_ref, now=datetime.now(UTC)
                )

        try:
            created = await anyio.to_thread.run_sync(store)
        except Open311Error as error:
            return _error(fmt, error.status, error.description)
        body = [
            {
                "service_request_id": created.service_request_id,
                "token": created.service_request_id,
                "service_notice": None,
                "account_id": None,
            }
        ]
        return _respond(fmt, "service_requests", "request", body)

    async def unknown(self, request: Request) -> Response:
        fmt = "xml" if request.url.path.endswith(".xml") else "json"
        return _error(fmt, 404, "no such resource; GET discovery.json lists the endpoint and its formats")

    async def _read_form(self, request: Request) -> tuple[dict[str, str], Upload | None]:
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type not in ("application/x-www-form-urlencoded", "multipart/form-data"):
            raise Open311Error(400, "send the fields as a form (application/x-www-form-urlencoded or multipart)")
        try:
            form = await request.form(max_files=1, max_fields=60, max_part_size=MAX_PHOTO_BYTES)
        except Exception:
            raise Open311Error(400, "the form could not be read; send at most one media file of 10 MB") from None
        fields: dict[str, str] = {}
        upload: Upload | None = None
        try:
            for name, value in form.multi_items():
                if isinstance(value, UploadFile):
                    if name != "media":
                        raise Open311Error(400, f"unexpected file in field {name!r}; send the photo as `media`")
                    data = await value.read(MAX_PHOTO_BYTES + 1)
                    if len(data) > MAX_PHOTO_BYTES:
                        raise Open311Error(400, "the media file is larger than 10 MB")
                    mime = sniff_image(data)
                    if mime is None:
                        raise Open311Error(400, "media must be a JPEG, PNG, GIF or WebP image")
                    upload = Upload(data, mime)
                else:
                    fields[name] = value
        finally:
            await form.close()
        return fields, upload


def open311_routes(plaza: Plaza) -> list[Route]:
    api = Open311Api(plaza)
    return [
        Route(PREFIX + "/discovery.{format}", api.discovery, methods=["GET"]),
        Route(PREFIX + "/services.{format}", api.services, methods=["GET"]),
        Route(PREFIX + "/services/{code}.{format}", api.service, methods=["GET"]),
        Route(PREFIX + "/requests.{format}", api.requests, methods=["GET"]),
        Route(PREFIX + "/requests.{format}", api.create, methods=["POST"]),
        Route(PREFIX + "/requests/{id}.{format}", api.one_request, methods=["GET"]),
        Route(PREFIX + "/tokens/{token}.{format}", api.token, methods=["GET"]),
        Route(PREFIX + "/{rest:path}", api.unknown, methods=["GET", "POST"]),
    ]
