"""Appointments: free days and times of a service, booking a seat, cancelling, listing.

Times are computed in the town's time zone (config.yaml ``town.timezone``)
and stored in UTC. Every function takes ``now`` (an aware datetime), so
callers and tests decide what "now" is; every function works inside the
caller's transaction and never commits.

Booking relies on the database, not on a check before the insert: each seat
of a slot is a row unique on ``(service, starts_at, seat)``. :func:`book`
tries seat 1, 2, ... each inside a SAVEPOINT; an insert that collides with
another resident's (even one committed a moment ago by another process) is
rolled back alone and the next seat is tried. When no seat is left the
caller is told so (``None``), and never sees an error.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from bot.config import Config
from bot.services import Service, slots_on
from models import Appointment

__all__ = [
    "HORIZON_DAYS",
    "Booking",
    "book",
    "bookings_of",
    "cancel",
    "day_label",
    "free_days",
    "free_times",
    "local_start",
    "reference_number",
    "town_zone",
]

APPOINTMENTS = Appointment.__table__  # type: ignore[attr-defined]

HORIZON_DAYS = 60
"""How far ahead free days are looked for, however full the service is."""


@dataclass(frozen=True, slots=True)
class Booking:
    """An active appointment as residents see it."""

    id: int
    reference: str
    service: str
    starts_at: datetime
    resident_id: int
    channel: str
    chat_id: str
    language: str


def town_zone(config: Config) -> ZoneInfo:
    return ZoneInfo(config.timezone)


def reference_number(prefix: str, appointment_id: int) -> str:
    """The reference residents are told, e.g. ``JUN-C-000123`` (C for cita)."""
    return f"{prefix}-C-{appointment_id:06d}"


def day_label(day: date, weekdays: Sequence[str]) -> str:
    """``lunes 24/11`` with the seven weekday names of the resident's language (Monday first)."""
    numbers = f"{day.day:02d}/{day.month:02d}"
    return f"{weekdays[day.weekday()]} {numbers}" if len(weekdays) == 7 else numbers


def local_start(day: str, at: str, zone: ZoneInfo) -> datetime | None:
    """A day key (``2026-11-24``) and time key (``09:20``) as an aware local time; None if malformed."""
    try:
        return datetime.combine(date.fromisoformat(day), datetime.strptime(at, "%H:%M").time(), tzinfo=zone)
    except ValueError:
        return None


def _taken(connection: Connection, service: str, start: datetime, end: datetime) -> dict[datetime, int]:
    """Seats taken per slot start (UTC) of ``service`` in [start, end)."""
    rows = connection.execute(
        select(APPOINTMENTS.c.starts_at, func.count())
        .where(
            APPOINTMENTS.c.service == service,
            APPOINTMENTS.c.seat.is_not(None),
            APPOINTMENTS.c.starts_at >= start,
            APPOINTMENTS.c.starts_at < end,
        )
        .group_by(APPOINTMENTS.c.starts_at)
    ).all()
    return {starts_at.astimezone(UTC): int(count) for starts_at, count in rows}


def _held(connection: Connection, service: str, resident_id: int | None) -> set[datetime]:
    if resident_id is None:
        return set()
    rows = connection.execute(
        select(APPOINTMENTS.c.starts_at).where(
            APPOINTMENTS.c.service == service,
            APPOINTMENTS.c.resident_id == resident_id,
            APPOINTMENTS.c.seat.is_not(None),
        )
    ).all()
    return {starts_at.astimezone(UTC) for (starts_at,) in rows}


def _free_on(
    service: Service, day: date, zone: ZoneInfo, now: datetime, taken: Mapping[datetime, int], held: set[datetime]
) -> list[datetime]:
    return [
        start
        for start in slots_on(service, day, zone)
        if start > now and taken.get(start.astimezone(UTC), 0) < service.capacity and start.astimezone(UTC) not in held
    ]


def free_times(
    connection: Connection, service: Service, day: date, zone: ZoneInfo, now: datetime, resident_id: int | None = None
) -> list[datetime]:
    """The slot starts of ``day`` (local) still in the future with a free seat.

    Slots ``resident_id`` already holds are left out (nobody books a slot twice).
    """
    start = datetime.combine(day, datetime.min.time(), tzinfo=zone)
    end = datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=zone)
    taken = _taken(connection, service.key, start, end)
    return _free_on(service, day, zone, now, taken, _held(connection, service.key, resident_id))


def free_days(
    connection: Connection, service: Service, zone: ZoneInfo, now: datetime, resident_id: int | None = None
) -> list[date]:
    """The next ``service.days_ahead`` days (from today, local) with a free slot, looking :data:`HORIZON_DAYS` ahead."""
    today = now.astimezone(zone).date()
    end = datetime.combine(today + timedelta(days=HORIZON_DAYS), datetime.min.time(), tzinfo=zone)
    taken = _taken(connection, service.key, now, end)
    held = _held(connection, service.key, resident_id)
    days: list[date] = []
    for offset in range(HORIZON_DAYS):
        day = today + timedelta(days=offset)
        if _free_on(service, day, zone, now, taken, held):
            days.append(day)
            if len(days) == service.days_ahead:
                break
    return days


def book(
    connection: Connection,
    *,
    config: Config,
    service: Service,
    starts_at: datetime,
    now: datetime,
    resident_id: int,
    channel: str,
    chat_id: str,
    language: str,
    conversation_id: int | None = None,
) -> Booking | None:
    """Take a free seat of the slot starting at ``starts_at``; None if the slot is full, past or not a slot.

    Each seat is tried in its own SAVEPOINT: the unique ``(service,
    starts_at, seat)`` decides who gets a seat two residents ask for at once.
    """
    zone = town_zone(config)
    local = starts_at.astimezone(zone)
    if local <= now or local not in slots_on(service, local.date(), zone):
        return None
    utc = starts_at.astimezone(UTC)
    if utc in _held(connection, service.key, resident_id):
        return None
    for seat in range(1, service.capacity + 1):
        try:
            with connection.begin_nested():
                appointment_id = connection.execute(
                    insert(APPOINTMENTS)
                    .values(
                        service=service.key,
                        department=service.department,
                        starts_at=utc,
                        seat=seat,
                        status="booked",
                        resident_id=resident_id,
                        channel=channel,
                        chat_id=chat_id,
                        language=language,
                        conversation_id=conversation_id,
                        created_at=now,
                    )
                    .returning(APPOINTMENTS.c.id)
                ).scalar_one()
        except IntegrityError:
            continue
        reference = reference_number(config.ticket_prefix, appointment_id)
        connection.execute(update(APPOINTMENTS).where(APPOINTMENTS.c.id == appointment_id).values(reference=reference))
        return Booking(appointment_id, reference, service.key, utc, resident_id, channel, chat_id, language)
    return None


def cancel(connection: Connection, appointment_id: int, resident_id: int, now: datetime) -> bool:
    """Cancel one of the resident's booked appointments, freeing its seat; False if it was not theirs or not booked."""
    result = connection.execute(
        update(APPOINTMENTS)
        .where(
            APPOINTMENTS.c.id == appointment_id,
            APPOINTMENTS.c.resident_id == resident_id,
            APPOINTMENTS.c.status == "booked",
        )
        .values(status="cancelled", seat=None, cancelled_at=now)
    )
    return result.rowcount == 1


def bookings_of(connection: Connection, resident_id: int, now: datetime) -> list[Booking]:
    """The resident's booked appointments that have not started yet, soonest first."""
    rows = connection.execute(
        select(
            APPOINTMENTS.c.id,
            APPOINTMENTS.c.reference,
            APPOINTMENTS.c.service,
            APPOINTMENTS.c.starts_at,
            APPOINTMENTS.c.resident_id,
            APPOINTMENTS.c.channel,
            APPOINTMENTS.c.chat_id,
            APPOINTMENTS.c.language,
        )
        .where(
            APPOINTMENTS.c.resident_id == resident_id,
            APPOINTMENTS.c.status == "booked",
            APPOINTMENTS.c.starts_at > now,
        )
        .order_by(APPOINTMENTS.c.starts_at, APPOINTMENTS.c.id)
    ).all()
    return [Booking(*row) for row in rows]
