"""The town's public figures on incidents: counts and median times per department, latest reports, status changes.

Only what :func:`bot.open311.public_requests` lets through is counted or
listed (incidents, never private ones), so the page, the feed and the JSON
can never show a police report or anything of a private department.

For a window of the last N days, a department's figures are over the
reports *received* in that window: how many, how many are still open, how
many are fixed, the median time to the first answer (the first status
change after ``received``) and the median time to fix (until the first
change to ``fixed``). A median is None when no report has got that far.
"""

from __future__ import annotations

import statistics
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, select

from bot.config import Config
from bot.open311 import public_media, public_requests
from bot.request_status import OPEN_STATUSES
from models import RequestUpdate, ServiceRequest

__all__ = [
    "WINDOWS",
    "DepartmentFigures",
    "Figures",
    "LatestReport",
    "StatusChange",
    "Window",
    "figures",
    "status_changes",
]

REQUESTS = ServiceRequest.__table__  # type: ignore[attr-defined]
UPDATES = RequestUpdate.__table__  # type: ignore[attr-defined]
WINDOWS = (30, 365)
"""The windows the page shows, in days."""


@dataclass(frozen=True, slots=True)
class DepartmentFigures:
    """One department's figures in one window (``department`` None: the whole town)."""

    department: str | None
    received: int
    open: int
    fixed: int
    median_first_answer: timedelta | None
    median_fix: timedelta | None


@dataclass(frozen=True, slots=True)
class Window:
    days: int
    departments: tuple[DepartmentFigures, ...]
    total: DepartmentFigures


@dataclass(frozen=True, slots=True)
class LatestReport:
    """A recent public report: ``photo`` is ``media:<id>``, a client's URL, or None."""

    ticket: str
    category: str
    department: str
    status: str
    created_at: datetime
    time_to_fix: timedelta | None
    photo: str | None


@dataclass(frozen=True, slots=True)
class Figures:
    generated_at: datetime
    windows: tuple[Window, ...]
    latest: tuple[LatestReport, ...]


@dataclass(frozen=True, slots=True)
class StatusChange:
    """One status change of a public report, for the feed; ``key`` is a stable id for it."""

    update_id: int
    ticket: str
    category: str
    old_status: str
    status: str
    note: str | None
    at: datetime

    def key(self, config: Config) -> str:
        return uuid.uuid5(uuid.NAMESPACE_URL, f"plaza:{config.ticket_prefix}:update:{self.update_id}").urn


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _first_update() -> Any:
    return (
        select(UPDATES.c.created_at)
        .where(UPDATES.c.request_id == REQUESTS.c.id)
        .order_by(UPDATES.c.created_at, UPDATES.c.id)
        .limit(1)
        .correlate(REQUESTS)
        .scalar_subquery()
    )


def _first_fix() -> Any:
    return (
        select(UPDATES.c.created_at)
        .where(UPDATES.c.request_id == REQUESTS.c.id, UPDATES.c.status == "fixed")
        .order_by(UPDATES.c.created_at, UPDATES.c.id)
        .limit(1)
        .correlate(REQUESTS)
        .scalar_subquery()
    )


def _median(values: Sequence[timedelta]) -> timedelta | None:
    if not values:
        return None
    return timedelta(seconds=statistics.median(v.total_seconds() for v in values))


def _summary(department: str | None, rows: Sequence[Any]) -> DepartmentFigures:
    answers = [row.first_update - row.created_at for row in rows if row.first_update is not None]
    fixes = [row.first_fix - row.created_at for row in rows if row.first_fix is not None]
    return DepartmentFigures(
        department=department,
        received=len(rows),
        open=sum(1 for row in rows if row.status in OPEN_STATUSES),
        fixed=sum(1 for row in rows if row.status == "fixed"),
        median_first_answer=_median(answers),
        median_fix=_median(fixes),
    )


@dataclass(frozen=True, slots=True)
class _Row:
    department: str
    status: str
    created_at: datetime
    first_update: datetime | None
    first_fix: datetime | None


def _public_departments(config: Config) -> list[str]:
    """Departments that receive some public category, in config order."""
    used = {c.department for c in config.categories.values() if not c.private}
    return [key for key, d in config.departments.items() if key in used and not d.private]


def figures(connection: Connection, config: Config, *, now: datetime, latest: int = 12) -> Figures:
    """The page's figures for each of :data:`WINDOWS`, and the ``latest`` public reports."""
    since = now - timedelta(days=max(WINDOWS))
    first_update = _first_update()
    first_fix = _first_fix()
    raw = connection.execute(
        select(
            REQUESTS.c.department,
            REQUESTS.c.status,
            REQUESTS.c.created_at,
            first_update.label("first_update"),
            first_fix.label("first_fix"),
        ).where(public_requests(config), REQUESTS.c.created_at >= since)
    ).all()
    rows = [
        _Row(
            row.department,
            row.status,
            _aware(row.created_at),
            None if row.first_update is None else _aware(_as_time(row.first_update)),
            None if row.first_fix is None else _aware(_as_time(row.first_fix)),
        )
        for row in raw
    ]
    departments = _public_departments(config)
    departments.extend(sorted({row.department for row in rows} - set(departments)))
    windows = []
    for days in WINDOWS:
        start = now - timedelta(days=days)
        inside = [row for row in rows if row.created_at >= start]
        windows.append(
            Window(
                days=days,
                departments=tuple(
                    _summary(key, [row for row in inside if row.department == key]) for key in departments
                ),
                total=_summary(None, inside),
            )
        )
    recent = connection.execute(
        select(
            REQUESTS.c.ticket,
            REQUESTS.c.category,
            REQUESTS.c.department,
            REQUESTS.c.status,
            REQUESTS.c.created_at,
            REQUESTS.c.photo_ref,
            REQUESTS.c.channel,
            first_fix.label("first_fix"),
        )
        .where(public_requests(config))
        .order_by(REQUESTS.c.created_at.desc(), REQUESTS.c.id.desc())
        .limit(latest)
    ).all()
    reports = tuple(
        LatestReport(
            ticket=row.ticket,
            category=row.category,
            department=row.department,
            status=row.status,
            created_at=_aware(row.created_at),
            time_to_fix=None if row.first_fix is None else _aware(_as_time(row.first_fix)) - _aware(row.created_at),
            photo=public_media(row.photo_ref, row.channel),
        )
        for row in recent
    )
    return Figures(generated_at=now, windows=tuple(windows), latest=reports)


def _as_time(value: Any) -> datetime:
    """A scalar subquery's timestamp: SQLite may give it back as text."""
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


def status_changes(connection: Connection, config: Config, *, limit: int = 50) -> list[StatusChange]:
    """The latest status changes of public reports, newest first."""
    rows = connection.execute(
        select(
            UPDATES.c.id,
            REQUESTS.c.ticket,
            REQUESTS.c.category,
            UPDATES.c.old_status,
            UPDATES.c.status,
            UPDATES.c.note,
            UPDATES.c.created_at,
        )
        .select_from(UPDATES.join(REQUESTS, REQUESTS.c.id == UPDATES.c.request_id))
        .where(public_requests(config))
        .order_by(UPDATES.c.created_at.desc(), UPDATES.c.id.desc())
        .limit(limit)
    ).all()
    return [
        StatusChange(row.id, row.ticket, row.category, row.old_status, row.status, row.note, _aware(row.created_at))
        for row in rows
    ]
