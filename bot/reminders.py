"""Appointment reminders: the day before, one message through the outbox, never two.

:func:`send_due_reminders` is the whole scheduler: it looks in the
database for booked appointments whose reminder is due, and for each one
claims the row (``UPDATE ... SET reminder_sent_at WHERE reminder_sent_at IS
NULL``) and queues the reminder in the same transaction. So a restart loses
nothing (the next run finds what is still due) and two runs, in two threads
or two processes, cannot both remind: only one claim changes the row.
``plaza serve`` calls it every minute (:class:`bot.runtime.Plaza`).

A reminder is due from :data:`REMINDER_TIME` (town time) on the day before
the appointment until the appointment starts. Appointments booked after
that moment (the resident was just told everything) get none.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, time, timedelta

from sqlalchemy import Engine, select, update

from bot.appointments import day_label, town_zone
from bot.config import Config
from bot.notices import Wording
from bot.outbox import Reply, enqueue
from bot.templates import pick
from models import Appointment

__all__ = ["REMINDER_TIME", "send_due_reminders"]

APPOINTMENTS = Appointment.__table__  # type: ignore[attr-defined]

REMINDER_TIME = time(10, 0)
"""When, in town time, the day before an appointment, its reminder becomes due."""

_LOOKAHEAD = timedelta(days=2)  # further than any reminder due now can be


def _reminder_text(wording: Wording, language: str, service: str, reference: str, local: datetime) -> str:
    """The reminder in the resident's language (the one they booked in)."""
    config = wording.config
    found = config.services.get(service)
    weekdays = wording.text("weekdays", language).split(",")
    return wording.text(
        "appointment_reminder",
        language,
        service=pick(found.label, language, config.default_language) if found else service,
        day=day_label(local.date(), [name.strip() for name in weekdays]),
        time=f"{local:%H:%M}",
        reference=reference,
    )


def send_due_reminders(db: Engine, config: Config, messages: Mapping[str, Mapping[str, str]], now: datetime) -> int:
    """Queue every reminder due at ``now`` (aware); returns how many were queued.

    ``messages`` is the bot's wording (``weekdays``, ``appointment_reminder``).
    Commits once, with every claim and its outbox row together.
    """
    zone = town_zone(config)
    wording = Wording(config, messages)
    queued = 0
    with db.begin() as connection:
        rows = connection.execute(
            select(
                APPOINTMENTS.c.id,
                APPOINTMENTS.c.reference,
                APPOINTMENTS.c.service,
                APPOINTMENTS.c.starts_at,
                APPOINTMENTS.c.channel,
                APPOINTMENTS.c.chat_id,
                APPOINTMENTS.c.language,
                APPOINTMENTS.c.conversation_id,
                APPOINTMENTS.c.created_at,
            )
            .where(
                APPOINTMENTS.c.status == "booked",
                APPOINTMENTS.c.reminder_sent_at.is_(None),
                APPOINTMENTS.c.starts_at > now,
                APPOINTMENTS.c.starts_at < now + _LOOKAHEAD,
            )
            .order_by(APPOINTMENTS.c.starts_at, APPOINTMENTS.c.id)
        ).all()
        for row in rows:
            local = row.starts_at.astimezone(zone)
            due = datetime.combine(local.date() - timedelta(days=1), REMINDER_TIME, tzinfo=zone)
            if now < due or row.created_at >= due:
                continue
            claimed = connection.execute(
                update(APPOINTMENTS)
                .where(
                    APPOINTMENTS.c.id == row.id,
                    APPOINTMENTS.c.reminder_sent_at.is_(None),
                    APPOINTMENTS.c.status == "booked",
                )
                .values(reminder_sent_at=now)
            ).rowcount
            if claimed != 1:
                continue
            enqueue(
                connection,
                channel=row.channel,
                chat_id=row.chat_id,
                replies=[Reply(text=_reminder_text(wording, row.language, row.service, row.reference, local))],
                conversation_id=row.conversation_id,
            )
            queued += 1
    return queued
