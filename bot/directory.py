"""The town's directory: named officials and employees a resident can ask to talk to.

config.yaml's ``people:`` section lists them, each in an existing department::

    people:
      mayor:
        name: Ana Pérez
        role: {es: Alcaldesa, en: Mayor}
        department: alcaldia
        office_hours: {es: martes y jueves de 10:00 a 13:00, en: Tuesdays and Thursdays 10:00 to 13:00}

``office_hours`` is optional for a person and for a department; a person
without their own hours has their department's (:func:`office_hours_of`).
:func:`read_people` is called by :func:`bot.config.load_config`, with its
reader, so mistakes are reported as ``file:line: key: problem — fix`` like
every other section.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ruamel.yaml.comments import CommentedMap

if TYPE_CHECKING:
    from bot.config import Config, Department, _Reader

__all__ = ["Person", "office_hours_of", "person_label", "read_office_hours", "read_people"]

PERSON_KEYS = ("name", "role", "department", "office_hours")


@dataclass(frozen=True, slots=True)
class Person:
    """A named official or employee: ``role`` per language, ``department`` a key of ``departments``."""

    key: str
    name: str
    role: Mapping[str, str]
    department: str
    office_hours: Mapping[str, str] | None = None


def person_label(person: Person, language: str) -> str:
    """How a resident sees the person in a list: ``Ana Pérez — Alcaldesa``."""
    role = person.role.get(language) or next(iter(person.role.values()), "")
    return f"{person.name} — {role}" if role else person.name


def office_hours_of(config: Config, department: str, person: str | None = None) -> Mapping[str, str] | None:
    """The hours a person (else their department) answers, per language; None when config.yaml has none."""
    found = config.people.get(person) if person else None
    if found is not None and found.office_hours:
        return found.office_hours
    known = config.departments.get(department)
    return known.office_hours if known is not None else None


def read_office_hours(
    reader: _Reader, node: CommentedMap, where: str, languages: tuple[str, ...]
) -> Mapping[str, str] | None:
    """The optional ``office_hours: {es: ..., en: ...}`` of a department or person."""
    if node.get("office_hours") is None:
        return None
    return reader.translations(node, "office_hours", where, languages)


def read_people(
    reader: _Reader, root: CommentedMap, departments: Mapping[str, Department], languages: tuple[str, ...]
) -> dict[str, Person]:
    """Parse the optional ``people:`` section; every person must name a known department."""
    people: dict[str, Person] = {}
    section = reader.section(root, "people", "people", required=False)
    for key, node in section.items():
        where = f"people.{key}"
        if not isinstance(node, CommentedMap):
            raise reader.fail(
                section,
                where,
                f"expected a mapping, found {node!r}",
                "give the person a `name:`, a `role: {es: ..., en: ...}` and a `department:`",
                key,
            )
        reader.known_keys(node, PERSON_KEYS, where)
        department = reader.department(node, where, departments)
        people[str(key)] = Person(
            key=str(key),
            name=reader.string(node, "name", where),
            role=reader.translations(node, "role", where, languages),
            department=department,
            office_hours=read_office_hours(reader, node, where, languages),
        )
    return people
