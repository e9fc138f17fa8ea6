"""What Open311 clients send, checked: GET requests' filters and a POSTed service request.

Every problem is an :class:`Open311Error` with the HTTP status (400) and a
description naming the parameter and what to send instead; nothing here
touches the database. Dates are w3c datetimes (``2026-11-01T00:00:00Z`` or
with an offset); one without a zone is the town's local time.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from bot.config import Config
from bot.errors import PlazaError

__all__ = [
    "MAX_PAGE_SIZE",
    "PAGE_SIZE",
    "PERSONAL_FIELDS",
    "Open311Error",
    "RequestQuery",
    "Submission",
    "parse_query",
    "parse_submission",
]

PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
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
