"""Appointment actions: free days and times of a service, booking, and "my appointments".

The answers they read: ``service`` (a key of config.yaml's ``services``,
from ``options_from: services``), ``day`` (from the ``days`` list),
``time`` (from the ``times`` list) and, in "my appointments", ``appointment``
(from the ``my_appointments`` list; the service of a move comes from it).
Day labels use the ``weekdays`` message (seven names, Monday first).
"""

from __future__ import annotations

from datetime import date

from bot.actions.base import ActionContext, ActionResult
from bot.appointments import (
    Booking,
    book,
    bookings_of,
    cancel,
    day_label,
    free_days,
    free_times,
    local_start,
    town_zone,
)
from bot.flows import OptionSpec
from bot.services import Service

__all__ = [
    "book_appointment",
    "cancel_appointment",
    "find_free_days",
    "find_free_times",
    "list_my_appointments",
    "move_appointment",
]


def _weekdays(context: ActionContext, language: str) -> list[str]:
    texts = context.messages.get("weekdays") or {}
    return [name.strip() for name in (texts.get(language) or "").split(",")]


def _day_labels(context: ActionContext, day: date) -> dict[str, str]:
    return {language: day_label(day, _weekdays(context, language)) for language in context.config.languages}


def _mine(context: ActionContext) -> Booking | None:
    """The appointment chosen from ``my_appointments``, if it is still the resident's and booked."""
    chosen = str(context.answers.get("appointment") or "")
    for booking in bookings_of(context.connection, context.resident_id, context.now):
        if str(booking.id) == chosen:
            return booking
    return None


def _service(context: ActionContext) -> Service | None:
    """The service being booked: the answer ``service``, or the service of the appointment being moved."""
    key = context.answers.get("service")
    if key is None and context.answers.get("appointment") is not None:
        moving = _mine(context)
        key = moving.service if moving is not None else None
    return context.config.services.get(str(key)) if key is not None else None


def _service_label(context: ActionContext, key: str, language: str) -> str:
    service = context.config.services.get(key)
    if service is None:
        return key
    return service.label.get(language) or next(iter(service.label.values()))


def find_free_days(context: ActionContext) -> ActionResult:
    """Fill the list ``days`` with the next days that have a free slot. Branch ``some`` or ``none``."""
    service = _service(context)
    if service is None:
        return ActionResult(branch="none", lists={"days": ()})
    days = free_days(context.connection, service, town_zone(context.config), context.now, context.resident_id)
    options = tuple(OptionSpec(key=day.isoformat(), label=_day_labels(context, day)) for day in days)
    return ActionResult(branch="some" if options else "none", lists={"days": options})


def find_free_times(context: ActionContext) -> ActionResult:
    """Fill the list ``times`` with the free times of the answer ``day``. Branch ``some`` or ``none``."""
    service = _service(context)
    try:
        day = date.fromisoformat(str(context.answers.get("day") or ""))
    except ValueError:
        day = None
    if service is None or day is None:
        return ActionResult(branch="none", lists={"times": ()})
    zone = town_zone(context.config)
    times = free_times(context.connection, service, day, zone, context.now, context.resident_id)
    options = tuple(
        OptionSpec(key=start.strftime("%H:%M"), label=dict.fromkeys(context.config.languages, start.strftime("%H:%M")))
        for start in times
    )
    return ActionResult(branch="some" if options else "none", lists={"times": options})


def _book(context: ActionContext, service: Service | None) -> Booking | None:
    zone = town_zone(context.config)
    starts_at = local_start(str(context.answers.get("day") or ""), str(context.answers.get("time") or ""), zone)
    if service is None or starts_at is None:
        return None
    return book(
        context.connection,
        config=context.config,
        service=service,
        starts_at=starts_at,
        now=context.now,
        resident_id=context.resident_id,
        channel=context.channel,
        chat_id=context.chat_id,
        language=context.language,
        conversation_id=context.conversation_id,
    )


def book_appointment(context: ActionContext) -> ActionResult:
    """Book the answers ``service``, ``day`` and ``time``.

    Provides ``reference``. Branch ``booked``, or ``taken`` when another
    resident took the last seat first (or the time has passed).
    """
    booking = _book(context, _service(context))
    if booking is None:
        return ActionResult(branch="taken")
    return ActionResult(values={"reference": booking.reference}, branch="booked")


def _describe(context: ActionContext, booking: Booking, language: str) -> str:
    local = booking.starts_at.astimezone(town_zone(context.config))
    day = day_label(local.date(), _weekdays(context, language))
    return f"{_service_label(context, booking.service, language)} · {day} · {local:%H:%M}"


def list_my_appointments(context: ActionContext) -> ActionResult:
    """The resident's coming appointments.

    Provides ``appointments`` (one line each: service · day · time ·
    reference) and fills the list ``my_appointments``. Branch ``some`` or ``none``.
    """
    bookings = bookings_of(context.connection, context.resident_id, context.now)
    lines = [f"• {_describe(context, b, context.language)} · {b.reference}" for b in bookings]
    options = tuple(
        OptionSpec(key=str(b.id), label={lang: _describe(context, b, lang) for lang in context.config.languages})
        for b in bookings
    )
    return ActionResult(
        values={"appointments": "\n".join(lines)},
        branch="some" if bookings else "none",
        lists={"my_appointments": options},
    )


def cancel_appointment(context: ActionContext) -> ActionResult:
    """Cancel the answer ``appointment``, freeing its seat. Branch ``cancelled``, or ``gone`` if no longer booked."""
    booking = _mine(context)
    if booking is None or not cancel(context.connection, booking.id, context.resident_id, context.now):
        return ActionResult(branch="gone")
    return ActionResult(branch="cancelled")


def move_appointment(context: ActionContext) -> ActionResult:
    """Move the answer ``appointment`` to the answers ``day`` and ``time``, in one transaction.

    The new slot is booked first and the old one cancelled after, so a
    resident never ends up with neither. Provides ``reference`` (the new
    one). Branch ``moved``, ``taken`` (the new time went first) or ``gone``
    (the old appointment is no longer booked).
    """
    old = _mine(context)
    if old is None:
        return ActionResult(branch="gone")
    booking = _book(context, context.config.services.get(old.service))
    if booking is None:
        return ActionResult(branch="taken")
    cancel(context.connection, old.id, context.resident_id, context.now)
    return ActionResult(values={"reference": booking.reference}, branch="moved")
