"""The ``topics:`` section: news-and-alerts topics, labelled in every language."""

from __future__ import annotations

from pathlib import Path

import pytest

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


def test_the_shipped_topics() -> None:
    config = load_config(ROOT / "config.yaml", env={})
    assert list(config.topics) == ["news", "jobs", "school_menu", "outages", "culture"]
    assert config.topics["school_menu"].key == "school_menu"
    assert dict(config.topics["school_menu"].label) == {"es": "Menú escolar", "en": "School menu"}
    assert config.topics["outages"].label["en"] == "Outages"


def test_the_section_is_optional(tmp_path: Path) -> None:
    text = (ROOT / "config.yaml").read_text(encoding="utf-8")
    path = write(tmp_path, text[: text.index("topics:")])
    assert load_config(path, env={}).topics == {}


@pytest.mark.parametrize(
    ("old", "new", "key", "words"),
    [
        ("  jobs: {es: Empleo, en: Jobs}", "  jobs: {es: Empleo}", "topics.jobs.en", "missing translation"),
        (
            "  culture: {es: Cultura, en: Culture}",
            "  culture: Cultura",
            "topics.culture",
            "expected a text per language",
        ),
        ("topics:", "topic:", "topic", "did you mean `topics`?"),
    ],
)
def test_mistakes_name_file_line_key_and_fix(tmp_path: Path, old: str, new: str, key: str, words: str) -> None:
    path, line = shipped(tmp_path, old, new)
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})
    error = caught.value
    assert error.line == line
    assert key in error.key
    assert words in str(error)
    assert str(error).startswith(f"{path.resolve()}:{line}: ")
