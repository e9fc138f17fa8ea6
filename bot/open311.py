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
of the latest status change. What clients send is checked in :mod:`bot.open311_params`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Connection, and_, false, select
from sqlalchemy.sql import Select

from bot.access import Actor
from bot.actions.incidents import NewRequest, insert_request, route_incident
from bot.audit import record
from bot.config import Config
from bot.open311_params import RequestQuery, Submission
from bot.request_status import CLOSED_STATUSES, OPEN_STATUSES
from models import MediaItem, RequestUpdate, ServiceRequest

__all__ = [
    "API_CHANNEL",
    "DEFAULT_DAYS",
    "Attribute",
    "Created",
    "Service",
    "ServiceRequestView",
    "create_request",
    "find_request",
    "find_requests",
    "load_photo",
    "open311_status",
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
DEFAULT_DAYS = 90
"""Without dates or ids, GET requests lists the last 90 days (the spec's default)."""


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
