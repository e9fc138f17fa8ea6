"""``plaza apikeys create|list|revoke``: the key is printed once, stored only as its hash, and revoking stops it."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.apikeys import ApiKeyError, check_key, create_key
from bot.cli import main
from models import ApiKey
from models.db import Database
from tests.support.server import ROOT

KEYS = ApiKey.__table__


@pytest.fixture
def plaza(monkeypatch: pytest.MonkeyPatch, sqlite: Database) -> Database:
    monkeypatch.setenv("PLAZA_DATABASE_URL", sqlite.url)
    return sqlite


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["--config", str(ROOT / "config.yaml"), "apikeys", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_create_prints_the_key_once_and_stores_only_its_hash(
    plaza: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "create", "fixmystreet")
    assert code == 0 and "cannot be shown again" in err
    name, key = out.strip().split(": ")
    assert name == "fixmystreet" and key.startswith("plz_") and len(key) > 40
    with plaza.reader.connect() as connection:
        stored = connection.execute(select(KEYS.c.name, KEYS.c.key_hash)).all()
        assert check_key(connection, key) == "fixmystreet"
        assert check_key(connection, key[:-1]) is None
        assert check_key(connection, "") is None
    assert stored == [("fixmystreet", hashlib.sha256(key.encode()).hexdigest())]
    assert key not in str(stored)


def test_list_and_revoke(plaza: Database, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "list")[1].startswith("no API keys yet")
    _, out, _ = run(capsys, "create", "town-website")
    key = out.strip().split(": ")[1]
    code, out, _ = run(capsys, "list")
    assert code == 0 and out.startswith("town-website\tcreated ") and out.strip().endswith("active")
    assert key not in out
    assert run(capsys, "revoke", "town-website")[:2] == (0, "town-website: revoked\n")
    assert run(capsys, "revoke", "town-website")[:2] == (0, "town-website: was already revoked\n")
    assert "revoked" in run(capsys, "list")[1]
    with plaza.reader.connect() as connection:
        assert check_key(connection, key) is None


def test_names_are_checked_and_never_reused(plaza: Database, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "create", "app")[0] == 0
    code, _, err = run(capsys, "create", "app")
    assert code == 1 and "already exists" in err
    code, _, err = run(capsys, "create", "bad name!")
    assert code == 1 and "not a usable name" in err
    code, _, err = run(capsys, "revoke", "ghost")
    assert code == 1 and "no key is called 'ghost'" in err
    with plaza.writer.begin() as connection, pytest.raises(ApiKeyError):
        create_key(connection, "app")


def test_without_migrations_it_says_to_upgrade(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PLAZA_DATABASE_URL", f"sqlite:///{tmp_path / 'empty.sqlite3'}")
    code, _, err = run(capsys, "list")
    assert code == 3 and "plaza db upgrade" in err
