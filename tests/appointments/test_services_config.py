"""The ``services:`` section: appointment services, their hours, slot length and capacity."""

from __future__ import annotations

from datetime import date, time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.config import load_config
from bot.errors import ConfigError
from bot.services import slots_on

ROOT = Path(__file__).resolve().parents[2]
DOCTOR = """  doctor:
    label: {es: Médico de cabecera, en: Family doctor}
    department: salud
    hours: {mon-fri: "09:00-14:00"}
    slot_minutes: 20
    capacity: 1
"""


def shipped(tmp_path: Path, old: str, new: str) -> tuple[Path, int]:
    """The shipped config with one edit, and the first line of the edit."""
    text = (ROOT / "config.yaml").read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / "config.yaml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path, text[: text.index(old)].count("\n") + 1


def test_the_shipped_services() -> None:
    config = load_config(ROOT / "config.yaml", env={})
    assert list(config.services) == ["doctor", "nursing", "social_worker", "registry"]
    doctor = config.services["doctor"]
    assert dict(doctor.label) == {"es": "Médico de cabecera", "en": "Family doctor"}
    assert doctor.department == "salud"
    assert doctor.hours == {day: ((time(9), time(14)),) for day in range(5)}
    assert (doctor.slot_minutes, doctor.capacity, doctor.days_ahead) == (20, 1, 7)
    assert config.services["nursing"].capacity == 2
    assert config.services["social_worker"].hours.keys() == {1, 3}
    assert config.services["social_worker"].days_ahead == 4
    assert all(service.department in config.departments for service in config.services.values())


def test_slots_of_a_day_fit_inside_the_hours() -> None:
    doctor = load_config(ROOT / "config.yaml", env={}).services["doctor"]
    zone = ZoneInfo("Europe/Madrid")
    monday = slots_on(doctor, date(2026, 11, 30), zone)
    assert [f"{s:%H:%M}" for s in monday[:3]] == ["09:00", "09:20", "09:40"]
    assert f"{monday[-1]:%H:%M}" == "13:40"  # 13:40 + 20 minutes is closing time
    assert len(monday) == 15
    assert slots_on(doctor, date(2026, 11, 28), zone) == []  # Saturday: closed


def test_lists_of_ranges_spanish_day_names_and_a_day_named_twice(tmp_path: Path) -> None:
    path, _ = shipped(
        tmp_path,
        DOCTOR,
        DOCTOR.replace('{mon-fri: "09:00-14:00"}', '{lun-vie: "09:00-11:00", jue: ["16:00-17:00", "17:30-18:00"]}'),
    )
    doctor = load_config(path, env={}).services["doctor"]
    assert doctor.hours[3] == ((time(9), time(11)), (time(16), time(17)), (time(17, 30), time(18)))
    assert doctor.hours[0] == ((time(9), time(11)),)
    assert 5 not in doctor.hours


def test_the_section_is_optional(tmp_path: Path) -> None:
    text = (ROOT / "config.yaml").read_text(encoding="utf-8")
    start = text.index("# Appointments residents can book")
    path = tmp_path / "config.yaml"
    path.write_text(text[:start], encoding="utf-8")
    assert load_config(path, env={}).services == {}


@pytest.mark.parametrize(
    ("old", "new", "key", "offset", "words", "hint"),
    [
        (
            "department: salud\n    hours",
            "department: salu\n    hours",
            "services.doctor.department",
            2,
            "unknown department 'salu'",
            "did you mean `salud`?",
        ),
        (
            '"09:00-14:00"}\n    slot_minutes: 20',
            '"9-14"}\n    slot_minutes: 20',
            "services.doctor.hours.mon-fri",
            3,
            "'9-14' is not a range of hours",
            'e.g. `"09:00-14:00"`',
        ),
        (
            '"09:00-14:00"}\n    slot_minutes: 20',
            '"14:00-09:00"}\n    slot_minutes: 20',
            "services.doctor.hours.mon-fri",
            3,
            "closes before it opens",
            "earlier time first",
        ),
        (
            '"09:00-14:00"}\n    slot_minutes: 20',
            '"09:00-25:00"}\n    slot_minutes: 20',
            "services.doctor.hours.mon-fri",
            3,
            "is not a range of hours",
            "in quotes",
        ),
        (
            "{mon-fri: ",
            "{mon-fry: ",
            "services.doctor.hours.mon-fry",
            3,
            "'mon-fry' is not a weekday or a range of weekdays",
            "did you mean `mon-fri`?",
        ),
        ("{mon-fri: ", "{fri-mon: ", "services.doctor.hours.fri-mon", 3, "is not a weekday or a range of weekdays", ""),
        (
            '{mon-fri: "09:00-14:00"}\n    slot_minutes: 20',
            '{mon-fri: "09:00-14:00", wed: "13:00-15:00"}\n    slot_minutes: 20',
            "services.doctor.hours.wed",
            3,
            "these hours overlap",
            "keep them apart",
        ),
        (
            "    slot_minutes: 20\n    capacity: 1\n",
            "    slot_minute: 20\n    capacity: 1\n",
            "services.doctor.slot_minute",
            4,
            "unknown key",
            "did you mean `slot_minutes`?",
        ),
        (
            "    capacity: 1\n  nursing",
            "    capacity: 0\n  nursing",
            "services.doctor.capacity",
            5,
            "expected a whole number from 1 to 1000, found 0",
            "capacity: 1",
        ),
        (
            "    slot_minutes: 20\n",
            "    slot_minutes: veinte\n",
            "services.doctor.slot_minutes",
            4,
            "expected a whole number",
            "",
        ),
        (
            '    hours: {mon-fri: "09:00-14:00"}\n    slot_minutes: 20',
            "    slot_minutes: 20",
            "services.doctor.hours",
            1,
            "expected opening hours per weekday, found None",
            'hours: {mon-fri: "09:00-14:00"}',
        ),
        (
            "{es: Médico de cabecera, en: Family doctor}",
            "{es: Médico de cabecera}",
            "services.doctor.label.en",
            1,
            "missing translation",
            "",
        ),
    ],
)
def test_a_wrong_service_names_file_line_key_and_fix(
    tmp_path: Path, old: str, new: str, key: str, offset: int, words: str, hint: str
) -> None:
    text = (ROOT / "config.yaml").read_text(encoding="utf-8")
    service_line = text[: text.index(DOCTOR)].count("\n") + 1
    path, _ = shipped(tmp_path, old, new)
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})
    error = caught.value
    assert error.key == key
    assert words in error.problem
    assert hint in error.hint
    assert error.path == str(path)
    assert error.line == service_line + offset, str(error)


def test_an_unknown_time_zone_is_refused(tmp_path: Path) -> None:
    path, line = shipped(tmp_path, "timezone: Europe/Madrid", "timezone: Europe/Jun")
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})
    assert caught.value.key == "town.timezone"
    assert caught.value.line == line
    assert "unknown time zone 'Europe/Jun'" in str(caught.value)
