"""``plaza channels check`` with Mastodon enabled, as a subprocess against mastodon-mock."""

from __future__ import annotations

import shutil
from pathlib import Path

from adapters.testing.mastodon_server import JUN_TOKEN, MastodonServer
from tests.support.server import ROOT, run_plaza


def town_with_mastodon(tmp_path: Path) -> Path:
    text = (ROOT / "config.yaml").read_text(encoding="utf-8")
    enabled = text.replace("  mastodon:\n    enabled: false", "  mastodon:\n    enabled: true\n    poll_interval: 10")
    assert enabled != text
    (tmp_path / "config.yaml").write_text(enabled, encoding="utf-8")
    shutil.copytree(ROOT / "flows", tmp_path / "flows")
    return tmp_path / "config.yaml"


def test_check_prints_the_bot_account(tmp_path: Path, server: MastodonServer) -> None:
    env = {"MASTODON_ACCESS_TOKEN": JUN_TOKEN, "MASTODON_API_BASE_URL": server.base_url}
    result = run_plaza(town_with_mastodon(tmp_path), "channels", "check", env=env)
    assert result.returncode == 0, result.stderr
    assert "mastodon: ok, as @jun@jun.example" in result.stdout


def test_check_with_a_wrong_token_says_so(tmp_path: Path, server: MastodonServer) -> None:
    env = {"MASTODON_ACCESS_TOKEN": "not-a-token", "MASTODON_API_BASE_URL": server.base_url}
    result = run_plaza(town_with_mastodon(tmp_path), "channels", "check", env=env)
    assert result.returncode != 0
    assert "mastodon: cannot reach its API" in result.stderr
    assert "401" in result.stderr


def test_a_missing_token_names_the_variable(tmp_path: Path) -> None:
    result = run_plaza(town_with_mastodon(tmp_path), "channels", "check", env={"MASTODON_API_BASE_URL": "http://x"})
    assert result.returncode == 2
    assert "MASTODON_ACCESS_TOKEN is not set" in result.stderr
