"""The ``people:`` section (the town's directory) and departments' ``office_hours``."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.catalog import flow_context
from bot.config import load_config
from bot.directory import office_hours_of
from bot.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


def shipped(tmp_path: Path, old: str, new: str) -> tuple[Path, int]:
    """The shipped config with one edit, and the line of the edit."""
    text = (ROOT / "config.yaml").read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / "config.yaml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path, text[: text.index(old)].count("\n") + 1


def test_the_shipped_directory() -> None:
    config = load_config(ROOT / "config.yaml", env={})
    assert list(config.people) == ["mayor", "police_officer", "street_sweeper", "it", "social_worker", "clerk"]
    mayor = config.people["mayor"]
    assert (mayor.name, mayor.department) == ("Ana Pérez", "alcaldia")
    assert dict(mayor.role) == {"es": "Alcaldesa", "en": "Mayor"}
    assert all(person.department in config.departments for person in config.people.values())
    assert config.departments["salud"].office_hours is None
    assert office_hours_of(config, "alcaldia", "mayor") == mayor.office_hours
    assert office_hours_of(config, "secretaria", "it") == config.departments["secretaria"].office_hours
    assert office_hours_of(config, "salud") is None


def test_the_option_lists_for_flows() -> None:
    sources = flow_context(load_config(ROOT / "config.yaml", env={})).option_sources
    people = {spec.key: dict(spec.label) for spec in sources["people"]}
    assert people["mayor"] == {"es": "Ana Pérez — Alcaldesa", "en": "Ana Pérez — Mayor"}
    assert people["street_sweeper"]["en"] == "Manuel Gómez — Street sweeper"
    departments = {spec.key: dict(spec.label) for spec in sources["departments"]}
    assert departments["policia"] == {"es": "Policía Local", "en": "Local Police"}


def test_the_section_is_optional(tmp_path: Path) -> None:
    text = (ROOT / "config.yaml").read_text(encoding="utf-8")
    path = tmp_path / "config.yaml"
    path.write_text(text[: text.index("\npeople:")], encoding="utf-8")
    config = load_config(path, env={})
    assert config.people == {}
    assert flow_context(config).option_sources["people"] == ()


@pytest.mark.parametrize(
    ("old", "new", "key", "words"),
    [
        (
            "    department: sociales\n",
            "    department: social\n",
            "people.social_worker.department",
            "unknown department 'social' — did you mean `sociales`?",
        ),
        (
            "    department: servicios\n  it:\n",
            "    department: limpieza\n  it:\n",
            "people.street_sweeper.department",
            "unknown department 'limpieza' — use one of: alcaldia, policia",
        ),
        (
            "    role: {es: Barrendero, en: Street sweeper}",
            "    role: {es: Barrendero}",
            "people.street_sweeper.role.en",
            "missing translation",
        ),
        (
            "    role: {es: Informática, en: IT}",
            "    role: Informática",
            "people.it.role",
            "expected a text per language",
        ),
        ("    name: Ana Pérez\n", "    nombre: Ana Pérez\n", "people.mayor.nombre", "unknown key"),
        (
            '    office_hours: {es: "los miércoles, de 9:00 a 14:00", en: "Wednesdays, 9:00 to 14:00"}',
            '    office_hours: {es: "los miércoles, de 9:00 a 14:00"}',
            "departments.sociales.office_hours.en",
            "missing translation",
        ),
        (
            '    office_hours: {es: "todos los días, de 8:00 a 15:00", en: "every day, 8:00 to 15:00"}',
            '    horario: {es: "todos los días, de 8:00 a 15:00", en: "every day, 8:00 to 15:00"}',
            "departments.policia.horario",
            "unknown key",
        ),
    ],
)
def test_mistakes_name_file_line_key_and_fix(tmp_path: Path, old: str, new: str, key: str, words: str) -> None:
    path, line = shipped(tmp_path, old, new)
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})
    error = caught.value
    assert error.key == key
    assert words in str(error)
    assert str(error).startswith(f"{path.resolve()}:{line}: ")


def test_a_person_without_a_department(tmp_path: Path) -> None:
    path, _ = shipped(
        tmp_path, '    department: alcaldia\n    office_hours: {es: "martes', '    office_hours: {es: "martes'
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})
    assert caught.value.key == "people.mayor.department"
    assert str(caught.value).startswith(f"{path.resolve()}:")
    assert "missing — add `department: ...`" in str(caught.value)
