"""Nearby reports: before filing a new incident, offer the open one already filed for the same place.

``find_nearby_request`` looks for an open, public request of the same
category within :data:`NEARBY_METRES` of the resident's coordinates, or with
the same address text (compared without case, accents, punctuation or extra
spaces). ``follow_request`` makes the resident a follower of it, so status
changes reach them as they reach its reporter (:mod:`bot.request_status`).
Nothing shown ever says who reported the request.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, and_, bindparam, or_, select

from bot.actions.base import ActionContext, ActionResult
from bot.request_status import OPEN_STATUSES
from bot.words import normalize
from models import RequestFollower, ServiceRequest
from models.rawsql import RawStatement, db_time, raw_insert

__all__ = [
    "CANDIDATE_LIMIT",
    "NEARBY_METRES",
    "distance_metres",
    "find_nearby_request",
    "follow_request",
    "nearby_request",
]

REQUESTS = ServiceRequest.__table__  # type: ignore[attr-defined]
FOLLOWERS = RequestFollower.__table__  # type: ignore[attr-defined]

NEARBY_METRES = 50.0
"""A request this close (or at the same address) is offered as the same problem."""
CANDIDATE_LIMIT = 500
"""At most this many open requests of a category are compared, newest first."""
EARTH_RADIUS_METRES = 6_371_008.8

_REQUEST = RawStatement(
    select(REQUESTS.c.ticket, REQUESTS.c.resident_id, REQUESTS.c.private).where(
        REQUESTS.c.id == bindparam("request_id")
    )
)
_FOLLOWING = RawStatement(
    select(FOLLOWERS.c.id).where(
        FOLLOWERS.c.request_id == bindparam("request_id"), FOLLOWERS.c.resident_id == bindparam("resident_id")
    )
)
_NEW_FOLLOWER = raw_insert(FOLLOWERS, ("request_id", "resident_id", "channel", "chat_id", "language", "created_at"))


def distance_metres(latitude: float, longitude: float, other_latitude: float, other_longitude: float) -> float:
    """The great-circle (haversine) distance between two points, in metres."""
    phi1, phi2 = math.radians(latitude), math.radians(other_latitude)
    half_dphi = (phi2 - phi1) / 2
    half_dlambda = math.radians(other_longitude - longitude) / 2
    a = math.sin(half_dphi) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(half_dlambda) ** 2
    return 2 * EARTH_RADIUS_METRES * math.asin(min(1.0, math.sqrt(a)))


def _candidates(
    connection: Connection, category: str, latitude: float | None, longitude: float | None, address: str | None
) -> list[Any]:
    """Open public requests of ``category`` in a box around the point, or with any address (newest first)."""
    near: list[Any] = []
    if latitude is not None and longitude is not None:
        # a box a little larger than the circle: the exact distance is checked in Python
        dlat = math.degrees(NEARBY_METRES * 1.2 / EARTH_RADIUS_METRES)
        dlon = dlat / max(math.cos(math.radians(latitude)), 0.01)
        near.append(
            and_(
                REQUESTS.c.latitude.between(latitude - dlat, latitude + dlat),
                REQUESTS.c.longitude.between(longitude - dlon, longitude + dlon),
            )
        )
    if address:
        near.append(REQUESTS.c.address.is_not(None))
    if not near:
        return []
    query = (
        select(
            REQUESTS.c.id,
            REQUESTS.c.ticket,
            REQUESTS.c.category,
            REQUESTS.c.created_at,
            REQUESTS.c.latitude,
            REQUESTS.c.longitude,
            REQUESTS.c.address,
        )
        .where(
            REQUESTS.c.category == category,
            REQUESTS.c.private.is_(False),
            REQUESTS.c.status.in_(OPEN_STATUSES),
            REQUESTS.c.ticket.is_not(None),
            or_(*near),
        )
        .order_by(REQUESTS.c.created_at.desc(), REQUESTS.c.id.desc())
        .limit(CANDIDATE_LIMIT)
    )
    return list(connection.execute(query).all())


def nearby_request(connection: Connection, category: str, location: Any) -> tuple[Any, float | None] | None:
    """The open public request of ``category`` that is the same place as ``location``, if any.

    ``location`` is a saved location answer (``{"latitude", "longitude",
    "address"}``). The same address wins; otherwise the nearest within
    :data:`NEARBY_METRES` (the newest of equals). Returns the row and its
    distance (None for an address match).
    """
    place = location if isinstance(location, dict) else {}
    latitude, longitude = place.get("latitude"), place.get("longitude")
    if not isinstance(latitude, (int, float)) or not isinstance(longitude, (int, float)):
        latitude = longitude = None
    address = normalize(str(place.get("address") or "")) or None
    nearest: Any = None
    nearest_distance = NEARBY_METRES
    for row in _candidates(connection, category, latitude, longitude, address):
        if address and row.address and normalize(row.address) == address:
            return row, None
        if latitude is None or longitude is None or row.latitude is None or row.longitude is None:
            continue
        distance = distance_metres(latitude, longitude, row.latitude, row.longitude)
        if distance < nearest_distance or (nearest is None and distance == nearest_distance):
            nearest, nearest_distance = row, distance
    return None if nearest is None else (nearest, nearest_distance)


def _local_date(value: Any, timezone: str) -> str:
    """A stored timestamp (SQLite text or PostgreSQL datetime, UTC) as the town's ``dd/mm/yyyy``."""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return str(moment.astimezone(ZoneInfo(timezone)).strftime("%d/%m/%Y"))


def _shown(context: ActionContext, row: Any, distance: float | None) -> str:
    """One line about the other report: ticket · category · place · the day it was reported.

    Never who reported it: no name, account or channel, and not its description
    either, which is the reporter's own free text and may name them.
    """
    category = context.config.categories.get(row.category)
    label = (
        str(category.label.get(context.language) or next(iter(category.label.values()))) if category else row.category
    )
    if row.address:
        place = str(row.address)
    else:
        place = f"📍 {row.latitude:.5f}, {row.longitude:.5f}"
        if distance is not None and round(distance) > 0:
            place += f" (≈ {round(distance)} m)"
    return " · ".join((str(row.ticket), label, place, _local_date(row.created_at, context.config.timezone)))


def find_nearby_request(context: ActionContext) -> ActionResult:
    """Look for an open public request like the one being reported (same category and place).

    Reads ``category`` and ``location``. Branch ``found`` with ``{nearby}``
    (ticket · category · place · date) and ``{nearby_ticket}``, or ``none``. The values are
    kept out of ``{summary}``: they are about someone else's report.
    """
    found = nearby_request(
        context.connection, str(context.answers.get("category") or ""), context.answers.get("location")
    )
    if found is None:
        hidden = {"nearby_request": None, "nearby_ticket": None, "nearby": None}
        return ActionResult(values=hidden, shown=dict.fromkeys(hidden, ""), branch="none")
    row, distance = found
    # an answer of None stays out of {summary}; its shown text still fills {nearby} and {nearby_ticket}
    return ActionResult(
        values={"nearby_request": row.id, "nearby_ticket": None, "nearby": None},
        shown={"nearby_request": "", "nearby_ticket": str(row.ticket), "nearby": _shown(context, row, distance)},
        branch="found",
    )


def follow_request(context: ActionContext) -> ActionResult:
    """Make the resident a follower of the request ``find_nearby_request`` found; no new request is filed.

    Its reporter (already told of every change), a resident who already
    follows it, and private requests get no follower row.
    """
    request_id = context.answers.get("nearby_request")
    if not isinstance(request_id, int):
        raise ValueError("follow_request needs find_nearby_request to have found a request first")
    row = _REQUEST.run(context.connection, {"request_id": request_id}).fetchone()
    if row is None:
        raise ValueError(f"service request {request_id} does not exist")
    ticket, reporter, private = row
    key = {"request_id": request_id, "resident_id": context.resident_id}
    if not private and reporter != context.resident_id and _FOLLOWING.run(context.connection, key).fetchone() is None:
        _NEW_FOLLOWER.run(
            context.connection,
            {
                **key,
                "channel": context.channel,
                "chat_id": context.chat_id,
                "language": context.language,
                "created_at": db_time(context.connection, datetime.now(UTC)),
            },
        )
    return ActionResult(values={"nearby_ticket": None}, shown={"nearby_ticket": str(ticket)})
