"""Linking officials' messenger accounts: identities, audit rows, refusals, and ``plaza relay``."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import insert, select

from bot.audit import entries
from bot.cli import main
from bot.errors import Conflict, NotFound
from bot.relay import linked, official_of
from bot.relay_links import link_account, links, unlink_account
from models import Official, OfficialIdentity
from models.db import Database
from tests.support.server import ROOT

OFFICIALS = Official.__table__
IDENTITIES = OfficialIdentity.__table__


def add_official(database: Database, username: str, department: str, *, disabled: bool = False) -> int:
    with database.writer.begin() as connection:
        return int(
            connection.execute(
                insert(OFFICIALS)
                .values(
                    username=username,
                    name=username.capitalize(),
                    department=department,
                    role="official",
                    password_hash="x",
                    language="es",
                    disabled=disabled,
                    created_at=datetime.now(UTC),
                )
                .returning(OFFICIALS.c.id)
            ).scalar_one()
        )


def identities(database: Database) -> list[tuple[int, str, str, str]]:
    with database.reader.connect() as connection:
        rows = connection.execute(
            select(
                IDENTITIES.c.official_id, IDENTITIES.c.channel, IDENTITIES.c.platform_user_id, IDENTITIES.c.chat_id
            ).order_by(IDENTITIES.c.id)
        ).all()
    return [tuple(row) for row in rows]  # type: ignore[misc]


def test_linking_writes_the_identity_and_an_audit_row(database: Database) -> None:
    pilar = add_official(database, "pilar", "policia")
    with database.writer.begin() as connection:
        done = link_account(connection, "pilar", "telegram", "555")
    assert (done.username, done.department, done.chat_id) == ("pilar", "policia", "555")
    assert identities(database) == [(pilar, "telegram", "555", "555")]
    with database.writer.begin() as connection:
        [entry] = entries(connection)
        assert (entry.actor, entry.action) == ("cli", "link_account")
        assert entry.detail == {"official": "pilar", "channel": "telegram", "platform_user_id": "555", "chat_id": "555"}
        found = official_of(connection, "telegram", "555")
        assert found is not None and (found.official_id, found.department) == (pilar, "policia")
        assert official_of(connection, "mastodon", "555") is None
        # linking again moves the chat, never duplicates the account
        link_account(connection, "pilar", "telegram", "555", chat_id="-100200")
    assert identities(database) == [(pilar, "telegram", "555", "-100200")]


def test_refusals_change_nothing(database: Database) -> None:
    add_official(database, "pilar", "policia")
    add_official(database, "sara", "secretaria")
    with database.writer.begin() as connection:
        link_account(connection, "pilar", "telegram", "555")
    with database.writer.begin() as connection:
        with pytest.raises(Conflict, match="linked to pilar"):
            link_account(connection, "sara", "telegram", "555")
        with pytest.raises(NotFound, match="no official 'nobody'"):
            link_account(connection, "nobody", "telegram", "1")
        with pytest.raises(NotFound, match="cannot be relayed to 'x'"):
            link_account(connection, "sara", "x", "1")
        with pytest.raises(NotFound, match="sara has no telegram account"):
            unlink_account(connection, "sara", "telegram")
        assert [entry.action for entry in entries(connection)] == ["link_account"]
    assert len(identities(database)) == 1


def test_unlinking_stops_relaying_and_is_audited(database: Database) -> None:
    pilar = add_official(database, "pilar", "policia")
    with database.writer.begin() as connection:
        link_account(connection, "pilar", "telegram", "555")
        link_account(connection, "pilar", "mastodon", "109")
        assert [(one.channel, one.chat_id) for one in linked(connection, department="policia")] == [
            ("telegram", "555"),
            ("mastodon", "109"),
        ]
        assert unlink_account(connection, "pilar", "telegram") == 1
        assert [(one.channel, one.official_id) for one in linked(connection, department="policia")] == [
            ("mastodon", pilar)
        ]
        assert official_of(connection, "telegram", "555") is None
        [last, *_] = entries(connection)
        assert (last.actor, last.action, last.detail["removed"]) == ("cli", "unlink_account", 1)
        assert [(link.username, link.channel) for link in links(connection)] == [("pilar", "mastodon")]


def test_a_disabled_officials_account_is_not_an_officials_account(database: Database) -> None:
    add_official(database, "old", "policia", disabled=True)
    with database.writer.begin() as connection:
        done = link_account(connection, "old", "telegram", "777")
        assert done.disabled
        assert official_of(connection, "telegram", "777") is None
        assert linked(connection, department="policia") == []


def test_plaza_relay_link_list_unlink(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PLAZA_DATABASE_URL", raising=False)
    shutil.copy(ROOT / "config.yaml", tmp_path / "config.yaml")
    shutil.copytree(ROOT / "flows", tmp_path / "flows")
    config = str(tmp_path / "config.yaml")
    assert main(["--config", config, "db", "upgrade"]) == 0
    database = Database(f"sqlite:///{tmp_path / 'var' / 'plaza.sqlite3'}")
    try:
        add_official(database, "pilar", "policia")
    finally:
        database.dispose()
    capsys.readouterr()

    assert main(["--config", config, "relay", "link", "pilar", "telegram", "555"]) == 0
    assert "pilar (policia) gets handoffs on telegram account 555 (chat 555)" in capsys.readouterr().out
    assert main(["--config", config, "relay", "list"]) == 0
    assert "pilar\tpolicia\ttelegram\t555\tchat 555" in capsys.readouterr().out
    assert main(["--config", config, "relay", "link", "nobody", "telegram", "1"]) == 1
    assert "no official 'nobody'" in capsys.readouterr().err
    assert main(["--config", config, "relay", "unlink", "pilar", "telegram"]) == 0
    assert "1 telegram account(s) unlinked" in capsys.readouterr().out
    assert main(["--config", config, "relay", "list"]) == 0
    assert "no official has linked" in capsys.readouterr().out
