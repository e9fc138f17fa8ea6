"""The ``activities:`` and ``procedures:`` sections: what residents sign up for, and who receives each procedure."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.catalog import flow_context
from bot.config import load_config
from bot.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def shipped(tmp_path: Path, old: str, new: str) -> tuple[Path, int]:
    """The shipped config with one edit, and the line of the edit."""
    text = (ROOT / "config.yaml").read_text(encoding="utf-8")
    assert old in text
    return write(tmp_path, text.replace(old, new, 1)), text[: text.index(old)].count("\n") + 1


def test_the_shipped_activities_and_procedures() -> None:
    config = load_config(ROOT / "config.yaml", env={})
    assert list(config.activities) == ["summer_school", "seniors_gym", "computer_class"]
    assert dict(config.activities["seniors_gym"].label) == {"es": "Gimnasia para mayores", "en": "Gym for older people"}
    assert config.activities["summer_school"].places == 40
    assert {key: p.department for key, p in config.procedures.items()} == {
        "residence_certificate": "secretaria",
        "bulky_waste": "secretaria",
        "activity_signup": "secretaria",
        "plenary_proposal": "alcaldia",
    }
    activities = flow_context(config).option_sources["activities"]
    assert [(spec.key, spec.label["es"]) for spec in activities] == [
        ("summer_school", "Escuela de verano"),
        ("seniors_gym", "Gimnasia para mayores"),
        ("computer_class", "Taller de informática"),
    ]


def test_the_sections_are_optional(tmp_path: Path) -> None:
    text = (ROOT / "config.yaml").read_text(encoding="utf-8")
    start = text.index("# Municipal activities")
    path = write(tmp_path, text[:start])
    config = load_config(path, env={})
    assert config.activities == {} and config.procedures == {}


@pytest.mark.parametrize(
    ("old", "new", "key", "words", "below"),
    [
        ("    places: 25", "    places: many", "activities.seniors_gym.places", "write e.g. `places: 30`", 0),
        ("    places: 40", "    places: 0", "activities.summer_school.places", "expected a whole number", 0),
        (
            "    label: {es: Taller de informática, en: Computer workshop}",
            "    label: {es: Taller de informática}",
            "activities.computer_class.label.en",
            "missing translation",
            0,
        ),
        ("    places: 12", "    plazas: 12", "activities.computer_class.plazas", "did you mean `places`?", 0),
        (
            "  computer_class:\n    label: {es: Taller de informática, en: Computer workshop}\n    places: 12\n",
            "  computer_class: Taller\n",
            "activities.computer_class",
            "expected a mapping",
            0,
        ),
        (
            "Bulky waste pickup}\n    department: secretaria",
            "Bulky waste pickup}\n    department: basura",
            "procedures.bulky_waste.department",
            "unknown department 'basura'",
            1,
        ),
        ("activities:", "activity:", "activity", "did you mean `activities`?", 0),
    ],
)
def test_mistakes_name_file_line_key_and_fix(
    tmp_path: Path, old: str, new: str, key: str, words: str, below: int
) -> None:
    path, line = shipped(tmp_path, old, new)
    line += below  # the edit starts `below` lines above the key in error
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})
    error = caught.value
    assert error.line == line, str(error)
    assert key in error.key
    assert words in str(error)
    assert str(error).startswith(f"{path.resolve()}:{line}: ")
