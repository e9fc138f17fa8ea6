"""Appointment services from config.yaml's ``services:`` section, and their slots.

Each service names the department that runs it, its opening hours per
weekday, the length of a slot and how many residents fit in one slot::

    services:
      doctor:
        label: {es: Médico de cabecera, en: Family doctor}
        department: salud
        hours: {mon-fri: "09:00-14:00", thu: "16:00-18:00"}
        slot_minutes: 20
        capacity: 1
        days_ahead: 7          # how many days with free slots to offer (default 7)

``hours`` keys are a weekday (``mon`` ... ``sun``, or ``lun`` ... ``dom``) or
a range of them (``mon-fri``); values are ``"HH:MM-HH:MM"`` or a list of
them. A day named twice gets both ranges (they must not overlap). Problems
are :class:`~bot.errors.ConfigError` with the file's line.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from itertools import pairwise
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from ruamel.yaml.comments import CommentedMap

if TYPE_CHECKING:
    from bot.config import Department, _Reader

__all__ = ["Service", "parse_services", "slots_on"]

WEEKDAYS: Mapping[str, int] = {
    **{name: number for number, name in enumerate(("mon", "tue", "wed", "thu", "fri", "sat", "sun"))},
    **{name: number for number, name in enumerate(("lun", "mar", "mie", "jue", "vie", "sab", "dom"))},
}
_RANGE = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")
_KEYS = ("label", "department", "hours", "slot_minutes", "capacity", "days_ahead")


@dataclass(frozen=True, slots=True)
class Service:
    """A service residents book slots of. ``hours[weekday]`` (0 = Monday) lists (opens, closes)."""

    key: str
    label: Mapping[str, str]
    department: str
    hours: Mapping[int, tuple[tuple[time, time], ...]]
    slot_minutes: int
    capacity: int
    days_ahead: int = 7


def slots_on(service: Service, day: date, zone: ZoneInfo) -> list[datetime]:
    """The start of every slot of ``service`` on ``day``, as aware local times, in order."""
    step = timedelta(minutes=service.slot_minutes)
    starts: list[datetime] = []
    for opens, closes in service.hours.get(day.weekday(), ()):
        start = datetime.combine(day, opens, tzinfo=zone)
        end = datetime.combine(day, closes, tzinfo=zone)
        while start + step <= end:
            starts.append(start)
            start += step
    return starts


def _days(reader: _Reader, hours: CommentedMap, key: object, where: str) -> list[int]:
    text = str(key).strip().lower()
    names = [part.strip() for part in text.split("-")]
    if len(names) in (1, 2) and all(name in WEEKDAYS for name in names):
        first, last = WEEKDAYS[names[0]], WEEKDAYS[names[-1]]
        if first <= last:
            return list(range(first, last + 1))
    close = difflib.get_close_matches(text, ["mon-fri", *WEEKDAYS], n=1)
    hint = f"did you mean `{close[0]}`?" if close else "write a weekday (mon ... sun) or a range such as `mon-fri`"
    raise reader.fail(hours, f"{where}.{key}", f"{key!r} is not a weekday or a range of weekdays", hint, key)


def _ranges(reader: _Reader, hours: CommentedMap, key: object, where: str) -> list[tuple[time, time]]:
    value: Any = hours[key]
    items = list(value) if isinstance(value, list) else [value]
    found: list[tuple[time, time]] = []
    for item in items:
        match = _RANGE.match(item) if isinstance(item, str) else None
        try:
            if match is None:
                raise ValueError
            h1, m1, h2, m2 = (int(group) for group in match.groups())
            opens, closes = time(h1, m1), time(h2, m2)
        except ValueError:
            raise reader.fail(
                hours,
                f"{where}.{key}",
                f"{item!r} is not a range of hours",
                'write opening and closing time in quotes, e.g. `"09:00-14:00"`, or a list of them',
                key,
            ) from None
        if opens >= closes:
            raise reader.fail(
                hours, f"{where}.{key}", f"{item!r} closes before it opens", "write the earlier time first", key
            )
        found.append((opens, closes))
    if not found:
        raise reader.fail(hours, f"{where}.{key}", "no hours", 'write e.g. `"09:00-14:00"`', key)
    return found


def _hours(reader: _Reader, node: CommentedMap, where: str) -> dict[int, tuple[tuple[time, time], ...]]:
    hours = node.get("hours")
    dotted = f"{where}.hours"
    if not isinstance(hours, CommentedMap) or not hours:
        raise reader.fail(
            node,
            dotted,
            f"expected opening hours per weekday, found {hours!r}",
            'write `hours: {mon-fri: "09:00-14:00"}`',
            "hours" if "hours" in node else None,
        )
    week: dict[int, list[tuple[time, time]]] = {}
    for key in hours:
        ranges = _ranges(reader, hours, key, dotted)
        for day in _days(reader, hours, key, dotted):
            merged = sorted([*week.get(day, []), *ranges])
            for (_, closes), (opens, _) in pairwise(merged):
                if opens < closes:
                    raise reader.fail(
                        hours, f"{dotted}.{key}", "these hours overlap others of the same day", "keep them apart", key
                    )
            week[day] = merged
    return {day: tuple(ranges) for day, ranges in sorted(week.items())}


def _whole(reader: _Reader, node: CommentedMap, key: str, where: str, default: int | None, most: int) -> int:
    value = node.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= most:
        raise reader.fail(
            node,
            f"{where}.{key}",
            f"expected a whole number from 1 to {most}, found {value!r}",
            f"write e.g. `{key}: {default or 1}`",
            key if key in node else None,
        )
    return value


def parse_services(
    reader: _Reader, section: CommentedMap, departments: Mapping[str, Department], languages: tuple[str, ...]
) -> dict[str, Service]:
    """Check and read the ``services:`` section."""
    services: dict[str, Service] = {}
    for key, node in section.items():
        where = f"services.{key}"
        if not isinstance(node, CommentedMap):
            raise reader.fail(
                section,
                where,
                f"expected a mapping, found {node!r}",
                "give the service a `label:`, `department:`, `hours:`, `slot_minutes:` and `capacity:`",
                key,
            )
        reader.known_keys(node, _KEYS, where)
        label = reader.translations(node, "label", where, languages)
        department = reader.department(node, where, departments)
        services[str(key)] = Service(
            key=str(key),
            label=label,
            department=department,
            hours=_hours(reader, node, where),
            slot_minutes=_whole(reader, node, "slot_minutes", where, None, 24 * 60),
            capacity=_whole(reader, node, "capacity", where, None, 1000),
            days_ahead=_whole(reader, node, "days_ahead", where, 7, 60),
        )
    return services
