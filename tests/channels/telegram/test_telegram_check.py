"""``plaza channels check`` with Telegram enabled: the real command against the fake Bot API."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from adapters.testing.telegram_server import FakeTelegram
from tests.support.server import ROOT, free_port, run_plaza


@pytest.fixture
def town(tmp_path: Path) -> Path:
    """A copy of the town with Telegram enabled."""
    text = (ROOT / "config.yaml").read_text(encoding="utf-8")
    enabled = text.replace("  telegram:\n    enabled: false", "  telegram:\n    enabled: true")
    assert enabled != text
    (tmp_path / "config.yaml").write_text(enabled, encoding="utf-8")
    shutil.copytree(ROOT / "flows", tmp_path / "flows")
    return tmp_path / "config.yaml"


def test_check_names_the_bot(town: Path, fake: FakeTelegram) -> None:
    env = {"TELEGRAM_BOT_TOKEN": fake.token, "TELEGRAM_API_BASE_URL": fake.base_url}
    result = run_plaza(town, "channels", "check", env=env)
    assert result.returncode == 0, result.stderr
    assert "telegram: ok, as @JunBot" in result.stdout.splitlines()
    assert fake.calls_of("getMe")


def test_an_unreachable_api_exits_1_with_a_clear_line(town: Path) -> None:
    env = {"TELEGRAM_BOT_TOKEN": "1:x", "TELEGRAM_API_BASE_URL": f"http://127.0.0.1:{free_port()}"}
    result = run_plaza(town, "channels", "check", env=env)
    assert result.returncode == 1
    [line] = [line for line in result.stderr.splitlines() if line.startswith("telegram:")]
    assert "cannot reach its API" in line and "getMe failed" in line


def test_a_wrong_token_exits_1(town: Path, fake: FakeTelegram) -> None:
    env = {"TELEGRAM_BOT_TOKEN": "999:wrong", "TELEGRAM_API_BASE_URL": fake.base_url}
    result = run_plaza(town, "channels", "check", env=env)
    assert result.returncode == 1
    assert "telegram: cannot reach its API" in result.stderr


def test_a_missing_token_is_a_config_error(town: Path) -> None:
    result = run_plaza(town, "channels", "check", env={"TELEGRAM_BOT_TOKEN": ""})
    assert result.returncode == 2
    assert "TELEGRAM_BOT_TOKEN is not set" in result.stderr
