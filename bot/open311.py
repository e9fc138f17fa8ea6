"""Open311 GeoReport v2: the town's incidents as service requests (queries and mapping; no HTTP).

What is public, in one place (:func:`public_requests`): only ``kind='incident'``
rows that are not ``private`` and whose category and department are not
private in config.yaml now. Police reports, procedures, proposals and every
report of a private category or department never leave this module, not even
by id: they are "not found". No field read here names the reporter: the
mapped :class:`ServiceRequestView` has no name, email, phone, account,
channel or chat, and what a POST brings about the person (``first_name``...,
``email``, ``phone``, ``device_id``, ``account_id``) is kept in the request's
``details`` for officials only.

Services are config.yaml's incident categories, codes as strings. A private
category (its own ``private:`` or its department's) is listed with the
``private`` keyword, so a civic app can still send such a report, and the
report then stays private. No category asks extra questions yet, so every
service has ``metadata: false`` and an empty list of attributes.

Ids: ``service_request_id`` is the ticket residents are told
(``JUN-2026-000123``). Requests are created at once, so the token a POST
returns is that same id, and ``tokens/{token}`` answers with it.

Internal statuses map to ``open`` (received, acknowledged, in_progress) and
``closed`` (fixed, duplicate, not_ours, closed). ``status_notes`` is the note
of the latest status change.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Connection, and_, false, select
from sqlalchemy.sql import Select

from bot.access import Actor
from bot.actions.incidents import NewRequest, insert_request, route_incident
from bot.audit import record
from bot.config import Config
from bot.errors import PlazaError
from bot.request_status import CLOSED_STATUSES, OPEN_STATUSES
from models import MediaItem, RequestUpdate, ServiceRequest

__all__ = [
    "API_CHANNEL",
    "DEFAULT_DAYS",
    "MAX_PAGE_SIZE",
    "PAGE_SIZE",
    "PERSONAL_FIELDS",
    "Attribute",
    "Created",
    "Open311Error",
    "RequestQuery",
    "Service",
    "ServiceRequestView",
    "Submission",
    "create_request",
    "find_request",
    "find_requests",
    "load_photo",
    "open311_status",
    "parse_query",
    "parse_submission",
    "public_media",
    "public_requests",
    "services",
    "w3c",
]

REQUESTS = ServiceRequest.__table__  # type: ignore[attr-defined]
UPDATES = RequestUpdate.__table__  # type: ignore[attr-defined]
MEDIA = MediaItem.__table__  # type: ignore[attr-defined]

API_CHANNEL = "open311"
"""The ``channel`` of requests created through the API."""
PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
DEFAULT_DAYS = 90
"""Without dates or ids, GET requests lists the last 90 days (the spec's default)."""
MAX_DESCRIPTION = 4000
MAX_ADDRESS = 500
MAX_URL = 500
PERSONAL_FIELDS = ("email", "first_name", "last_name", "phone", "device_id", "account_id")
"""What a POST may say about the person: kept for officials, never in a GET."""


class Open311Error(PlazaError):
    """A request the API refuses: ``status`` (400, 403, 404) and the spec's error ``description``.

    Answered by :mod:`bot.web.open311` in the spec's own error format, in the format asked for.
    """

    def __init__(self, status: int, description: str) -> None:
        self.status = status
        self.description = description
        super().__init__(description)


@dataclass(frozen=True, slots=True)
class Attribute:
    """One extra question of a service (the spec's service definition attribute)."""

    code: str
    description: str
    datatype: str
    required: bool
    order: int
    values: tuple[tuple[str, str], ...] = ()
    variable: bool = True
    datatype_description: str | None = None


@dataclass(frozen=True, slots=True)
class Service:
    """One incident category as an Open311 service."""

    service_code: str
    service_name: str
    description: str
    keywords: str
    group: str
    private: bool
    metadata: bool = False
    type: str = "realtime"
    attributes: tuple[Attribute, ...] = ()


@dataclass(frozen=True, slots=True)
class ServiceRequestView:
    """A public service request as the spec names its fields; nothing in it names the reporter.

    ``media`` is ``media:<id>`` (the web layer makes it a public URL), an
    http(s) URL a client gave, or None.
    """

    service_request_id: str
    status: str
    status_notes: str | None
    service_name: str
    service_code: str
    description: str
    agency_responsible: str
    requested_datetime: datetime
    updated_datetime: datetime
    address: str | None
    lat: float | None
    long: float | None
    media: str | None
    internal_status: str
    service_notice: str | None = None
    expected_datetime: datetime | None = None


@dataclass(frozen=True, slots=True)
class RequestQuery:
    """GET requests' filters, already checked."""

    ids: tuple[str, ...] = ()
    service_codes: tuple[str, ...] = ()
    start: datetime | None = None
    end: datetime | None = None
    status: str | None = None
    page: int = 1
    page_size: int = PAGE_SIZE


@dataclass(frozen=True, slots=True)
class Submission:
    """A POSTed service request, already checked."""

    service_code: str
    latitude: float | None
    longitude: float | None
    address: str | None
    description: str
    media_url: str | None
    personal: Mapping[str, str] = field(default_factory=dict)
    attributes: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Created:
    """What a POST made: the internal id, the ticket (the Open311 id) and whether it is private."""

    request_id: int
    service_request_id: str
    private: bool


def _text(value: Mapping[str, str], language: str, fallback: str) -> str:
    return value.get(language) or value.get(fallback) or next(iter(value.values()))


def services(config: Config, language: str) -> list[Service]:
    """config.yaml's incident categories, in their order, named in ``language``."""
    found = []
    for category in config.categories.values():
        department = config.departments[category.department]
        private = category.private or department.private
        name = _text(category.label, language, config.default_language)
        found.append(
            Service(
                service_code=category.key,
                service_name=name,
                description=name,
                keywords="private" if private else "",
                group=_text(department.name, language, config.default_language),
                private=private,
            )
        )
    return found


def open311_status(internal: str) -> str:
    """``open`` or ``closed`` for an internal status."""
    return "closed" if internal in CLOSED_STATUSES else "open"


def _private_keys(config: Config) -> tuple[tuple[str, ...], tuple[str, ...]]:
    departments = tuple(key for key, department in config.departments.items() if department.private)
    categories = tuple(
        key
        for key, category in config.categories.items()
        if category.private or config.departments[category.department].private
    )
    return departments, categories


def public_requests(config: Config) -> ColumnElement[bool]:
    """The one condition every public read uses: incidents, not private, of no private category or department."""
    departments, categories = _private_keys(config)
    conditions: list[ColumnElement[bool]] = [
        REQUESTS.c.kind == "incident",
        REQUESTS.c.private == false(),
        REQUESTS.c.ticket.is_not(None),
    ]
    if departments:
        conditions.append(REQUESTS.c.department.not_in(departments))
    if categories:
        conditions.append(REQUESTS.c.category.not_in(categories))
    return and_(*conditions)


def _latest_note() -> Any:
    return (
        select(UPDATES.c.note)
        .where(UPDATES.c.request_id == REQUESTS.c.id)
        .order_by(UPDATES.c.id.desc())
        .limit(1)
        .correlate(REQUESTS)
        .scalar_subquery()
    )


def _select(config: Config) -> Select[Any]:
    return select(
        REQUESTS.c.id,
        REQUESTS.c.ticket,
        REQUESTS.c.category,
        REQUESTS.c.department,
        REQUESTS.c.description,
        REQUESTS.c.status,
        REQUESTS.c.photo_ref,
        REQUESTS.c.latitude,
        REQUESTS.c.longitude,
        REQUESTS.c.address,
        REQUESTS.c.channel,
        REQUESTS.c.created_at,
        REQUESTS.c.updated_at,
        _latest_note().label("status_notes"),
    ).where(public_requests(config))


def public_media(photo_ref: str | None, channel: str) -> str | None:
    """A photo that may be shown: one stored by Plaza, or a URL a client posted (never a messenger's file id)."""
    if not photo_ref:
        return None
    if photo_ref.startswith("media:"):
        return photo_ref
    if channel == API_CHANNEL and photo_ref.startswith(("https://", "http://")):
        return photo_ref
    return None


def _view(config: Config, row: Any, language: str) -> ServiceRequestView:
    fallback = config.default_language
    category = config.categories.get(row.category)
    department = config.departments.get(row.department)
    return ServiceRequestView(
        service_request_id=row.ticket,
        status=open311_status(row.status),
        status_notes=row.status_notes,
        service_name=_text(category.label, language, fallback) if category else row.category,
        service_code=row.category,
        description=row.description,
        agency_responsible=_text(department.name, language, fallback) if department else row.department,
        requested_datetime=row.created_at,
        updated_datetime=row.updated_at,
        address=row.address,
        lat=row.latitude,
        long=row.longitude,
        media=public_media(row.photo_ref, row.channel),
        internal_status=row.status,
    )


def find_requests(
    connection: Connection, config: Config, query: RequestQuery, language: str, *, now: datetime
) -> list[ServiceRequestView]:
    """Public requests matching ``query``, newest first, one page.

    With ids, the other filters are ignored (as the spec says); without ids
    nor dates, only the last :data:`DEFAULT_DAYS` days are listed.
    """
    statement = _select(config)
    if query.ids:
        statement = statement.where(REQUESTS.c.ticket.in_([i.upper() for i in query.ids]))
    else:
        if query.service_codes:
            statement = statement.where(REQUESTS.c.category.in_(query.service_codes))
        start = query.start
        if start is None and query.end is None:
            start = now - timedelta(days=DEFAULT_DAYS)
        if start is not None:
            statement = statement.where(REQUESTS.c.created_at >= start)
        if query.end is not None:
            statement = statement.where(REQUESTS.c.created_at <= query.end)
        if query.status == "open":
            statement = statement.where(REQUESTS.c.status.in_(OPEN_STATUSES))
        elif query.status == "closed":
            statement = statement.where(REQUESTS.c.status.in_(CLOSED_STATUSES))
    statement = (
        statement.order_by(REQUESTS.c.created_at.desc(), REQUESTS.c.id.desc())
        .limit(query.page_size)
        .offset((query.page - 1) * query.page_size)
    )
    return [_view(config, row, language) for row in connection.execute(statement)]


def find_request(
    connection: Connection, config: Config, service_request_id: str, language: str
) -> ServiceRequestView | None:
    """One public request by its id (the ticket), or None: private and unknown ones look the same."""
    row = connection.execute(_select(config).where(REQUESTS.c.ticket == service_request_id.strip().upper())).first()
    return None if row is None else _view(config, row, language)


def load_photo(connection: Connection, config: Config, service_request_id: str) -> tuple[str, bytes] | None:
    """The stored photo (``media:<id>``) of a public request, as (mime type, bytes), or None."""
    ref = connection.execute(
        select(REQUESTS.c.photo_ref).where(
            public_requests(config), REQUESTS.c.ticket == service_request_id.strip().upper()
        )
    ).scalar()
    media_id = str(ref or "").removeprefix("media:")
    if not str(ref or "").startswith("media:") or not media_id.isdigit():
        return None
    row = connection.execute(select(MEDIA.c.mime_type, MEDIA.c.data).where(MEDIA.c.id == int(media_id))).first()
    return None if row is None else (str(row.mime_type), bytes(row.data))


# -- parsing what clients send ------------------------------------------------------------------


def _w3c(value: str, name: str, zone: ZoneInfo) -> datetime:
    text = value.strip()
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise Open311Error(400, f"{name} must be a w3c datetime such as 2026-11-01T00:00:00Z, not {value!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return moment.astimezone(UTC)


def _positive(value: str | None, name: str, default: int, maximum: int | None = None) -> int:
    if value is None or value == "":
        return default
    if not value.isdigit() or int(value) < 1:
        raise Open311Error(400, f"{name} must be a whole number from 1, not {value!r}")
    number = int(value)
    if maximum is not None and number > maximum:
        raise Open311Error(400, f"{name} may be at most {maximum}")
    return number


def _list(value: str | None) -> tuple[str, ...]:
    return tuple(part.strip() for part in (value or "").split(",") if part.strip())


def parse_query(params: Mapping[str, str], config: Config) -> RequestQuery:
    """GET requests' parameters, checked; raises :class:`Open311Error` (400) naming the bad one."""
    zone = ZoneInfo(config.timezone)
    start = _w3c(params["start_date"], "start_date", zone) if params.get("start_date") else None
    end = _w3c(params["end_date"], "end_date", zone) if params.get("end_date") else None
    if start is not None and end is not None and end < start:
        raise Open311Error(400, "end_date is before start_date")
    status = params.get("status") or None
    if status is not None and status not in ("open", "closed"):
        raise Open311Error(400, f"status must be open or closed, not {status!r}")
    return RequestQuery(
        ids=_list(params.get("service_request_id")),
        service_codes=_list(params.get("service_code")),
        start=start,
        end=end,
        status=status,
        page=_positive(params.get("page"), "page", 1),
        page_size=_positive(params.get("page_size"), "page_size", PAGE_SIZE, MAX_PAGE_SIZE),
    )


def _coordinate(value: str | None, name: str, limit: float) -> float | None:
    if value is None or value.strip() == "":
        return None
    try:
        number = float(value)
    except ValueError:
        raise Open311Error(400, f"{name} must be a decimal number (WGS84), not {value!r}") from None
    if not math.isfinite(number) or abs(number) > limit:
        raise Open311Error(400, f"{name} must be between -{limit:g} and {limit:g}")
    return number


def parse_submission(fields: Mapping[str, str], config: Config) -> Submission:
    """A POST's form fields, checked; raises :class:`Open311Error` (400) naming what is wrong or missing."""
    code = (fields.get("service_code") or "").strip()
    if not code:
        raise Open311Error(400, "service_code is required")
    if code not in config.categories:
        raise Open311Error(400, f"service_code {code!r} is not a service; GET services lists them")
    latitude = _coordinate(fields.get("lat"), "lat", 90)
    longitude = _coordinate(fields.get("long"), "long", 180)
    if (latitude is None) != (longitude is None):
        raise Open311Error(400, "lat and long go together: send both, or an address_string")
    address = (fields.get("address_string") or "").strip() or None
    if latitude is None and address is None:
        raise Open311Error(400, "a location is required: lat and long, or address_string")
    if address is not None and len(address) > MAX_ADDRESS:
        raise Open311Error(400, f"address_string may be at most {MAX_ADDRESS} characters")
    description = (fields.get("description") or "").strip()
    if len(description) > MAX_DESCRIPTION:
        raise Open311Error(400, f"description may be at most {MAX_DESCRIPTION} characters")
    media_url = (fields.get("media_url") or "").strip() or None
    if media_url is not None:
        parts = urlsplit(media_url)
        if parts.scheme not in ("http", "https") or not parts.netloc or len(media_url) > MAX_URL:
            raise Open311Error(400, f"media_url must be an http(s) URL of at most {MAX_URL} characters")
    personal = {name: fields[name].strip()[:200] for name in PERSONAL_FIELDS if (fields.get(name) or "").strip()}
    attributes = {
        key[len("attribute[") : -1]: value
        for key, value in fields.items()
        if key.startswith("attribute[") and key.endswith("]")
    }
    return Submission(code, latitude, longitude, address, description, media_url, personal, attributes)


def create_request(
    connection: Connection,
    config: Config,
    submission: Submission,
    *,
    api_key: str,
    photo_ref: str | None,
    now: datetime,
) -> Created:
    """Create the same service request a chat report creates (numbering, routing), and audit it.

    ``photo_ref`` is a stored upload (``media:<id>``); otherwise the
    submission's ``media_url`` is kept. The audit row names the API key.
    """
    category, department = route_incident(config, submission.service_code)
    private = category.private or department.private
    details: dict[str, Any] = {"api_key": api_key}
    if submission.personal:
        details["reporter"] = dict(submission.personal)
    if submission.attributes:
        details["attributes"] = dict(submission.attributes)
    request_id, ticket = insert_request(
        connection,
        config,
        NewRequest(
            kind="incident",
            category=category.key,
            department=department.key,
            private=private,
            description=submission.description,
            language=config.default_language,
            channel=API_CHANNEL,
            photo_ref=photo_ref or submission.media_url,
            latitude=submission.latitude,
            longitude=submission.longitude,
            address=submission.address,
            details=details,
        ),
        now=now,
    )
    actor = Actor(official_id=None, username=f"api:{api_key}"[:64], name=api_key, department=None, role="api")
    record(
        connection,
        actor,
        "create_request",
        request_id=request_id,
        detail={"via": "open311", "api_key": api_key, "ticket": ticket},
        now=now,
    )
    return Created(request_id, ticket, private)


def w3c(moment: datetime, config: Config) -> str:
    """A timestamp as the spec writes it: w3c, in the town's time with its offset (``2026-11-24T02:43:14+01:00``)."""
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return aware.astimezone(ZoneInfo(config.timezone)).replace(microsecond=0).isoformat()
