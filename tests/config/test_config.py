"""config.yaml is read into frozen objects; mistakes name file, line, key and the fix."""

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


def test_the_shipped_config_is_jun(tmp_path: Path) -> None:
    config = load_config(ROOT / "config.yaml", env={})
    assert config.town_name == "Jun" and config.ticket_prefix == "JUN"
    assert config.languages == ("es", "en") and config.default_language == "es"
    assert set(config.departments) == {"alcaldia", "policia", "servicios", "salud", "secretaria", "sociales"}
    assert config.categories["streetlight"].department == "servicios"
    assert config.categories["noise"].private  # the police's department is private
    assert config.enabled_channels() == ("web", "console")
    assert config.database_url == f"sqlite:///{ROOT / 'var' / 'plaza.sqlite3'}"


def test_environment_overrides_the_file() -> None:
    env = {"PLAZA_DATABASE_URL": "postgresql+psycopg://u@h/plaza", "PLAZA_PORT": "9000", "PLAZA_HOST": "0.0.0.0"}
    config = load_config(ROOT / "config.yaml", env=env)
    assert (config.database_url, config.port, config.host) == ("postgresql+psycopg://u@h/plaza", 9000, "0.0.0.0")


@pytest.mark.parametrize(
    ("old", "new", "key", "words"),
    [
        ("  ticket_prefix: JUN", "  ticket_prefx: JUN", "town.ticket_prefx", "did you mean `ticket_prefix`?"),
        (
            "    department: servicios\n  cleaning:",
            "    department: servicos\n  cleaning:",
            "department",
            "did you mean `servicios`?",
        ),
        ("  port: 8000", "  port: eighty", "server.port", "use a number from 1 to 65535"),
        ("  default: es", "  default: fr", "languages.default", "is not in `available`"),
        (
            "    label: {es: Limpieza, en: Cleaning}",
            "    label: {es: Limpieza}",
            "categories.cleaning.label.en",
            "missing translation",
        ),
        (
            "    enabled: true\n  console:",
            "    enabled: yes\n  console:",
            "channels.web.enabled",
            "write `enabled: true` or `enabled: false`",
        ),
        (
            "  messages_per_window: 20",
            "  messages_per_window: many",
            "limits.messages_per_window",
            "write a whole number from 1 to 10000",
        ),
    ],
)
def test_mistakes_name_file_line_key_and_fix(tmp_path: Path, old: str, new: str, key: str, words: str) -> None:
    path, line = shipped(tmp_path, old, new)
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})
    error = caught.value
    assert error.path == str(path.resolve())
    assert error.line == line
    assert key in error.key
    assert words in str(error)
    assert str(error).startswith(f"{path.resolve()}:{line}: ")


def test_yaml_syntax_error_has_a_line(tmp_path: Path) -> None:
    path = write(tmp_path, "town:\n  name: Jun\n  ticket_prefix: [JUN\nlanguages: {}\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})
    assert caught.value.line is not None and "YAML syntax error" in str(caught.value)


def test_a_missing_file_says_how_to_point_at_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="PLAZA_CONFIG"):
        load_config(tmp_path / "nope.yaml", env={})


def test_a_bad_port_in_the_environment_names_the_variable() -> None:
    with pytest.raises(ConfigError, match="PLAZA_PORT"):
        load_config(ROOT / "config.yaml", env={"PLAZA_PORT": "99999"})
