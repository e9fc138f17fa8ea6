"""Message bodies older than privacy.retention_days are blanked (the job and `plaza privacy purge`)."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from bot.config import Config, load_config
from bot.errors import ConfigError
from bot.privacy import purge
from models import InboxItem, OutboxItem
from models.db import Database
from tests.support.driver import Bot
from tests.support.residents import actions
from tests.support.server import ROOT, run_plaza

INBOX = InboxItem.__table__
OUTBOX = OutboxItem.__table__


def bodies(database: Database) -> list[str]:
    with database.writer.begin() as connection:
        inbox = [row.payload.get("text") for row in connection.execute(select(INBOX.c.payload).order_by(INBOX.c.id))]
        outbox = [row.payload.get("text") for row in connection.execute(select(OUTBOX.c.payload))]
    return [text for text in inbox + outbox if text]


def age(database: Database, text: str, days: int) -> None:
    """Make the message ``text`` (and the replies to it) ``days`` old."""
    then = datetime.now(UTC) - timedelta(days=days)
    with database.writer.begin() as connection:
        ids = [
            row.id for row in connection.execute(select(INBOX.c.id, INBOX.c.payload)) if row.payload.get("text") == text
        ]
        connection.execute(update(INBOX).where(INBOX.c.id.in_(ids)).values(received_at=then))
        connection.execute(update(OUTBOX).where(OUTBOX.c.inbox_id.in_(ids)).values(created_at=then))


def test_old_bodies_go_and_recent_ones_stay(town: Config, database: Database) -> None:
    ana = Bot(town, database).chat("ana", channel="telegram")
    ana.say()
    ana.say("Un mensaje de hace mucho")
    ana.say("Un mensaje de ayer")
    age(database, "Un mensaje de hace mucho", 400)
    age(database, "Un mensaje de ayer", 1)
    purged = purge(database.writer, 365, datetime.now(UTC))
    assert purged >= 2  # the message and the bot's answer to it
    kept = bodies(database)
    assert "Un mensaje de hace mucho" not in kept
    assert "Un mensaje de ayer" in kept
    assert ("system", "privacy_purged") in [(actor, action) for actor, action, _ in actions(database)]
    assert purge(database.writer, 365, datetime.now(UTC)) == 0, "a blanked message is not blanked again"


def test_the_retention_is_configurable(town: Config, database: Database) -> None:
    ana = Bot(town, database).chat("ana", channel="telegram")
    ana.say()
    ana.say("Un mensaje de hace una semana")
    age(database, "Un mensaje de hace una semana", 8)
    purge(database.writer, 30, datetime.now(UTC))
    assert "Un mensaje de hace una semana" in bodies(database)
    purge(database.writer, 7, datetime.now(UTC))
    assert "Un mensaje de hace una semana" not in bodies(database)


@pytest.mark.parametrize(
    ("section", "expected"),
    [
        ("privacy:\n  retention_days: 0\n", "privacy.retention_days: expected a number of days, found 0"),
        ("privacy:\n  retention_days: un año\n", "privacy.retention_days: expected a number of days"),
        ("privacy:\n  public_url: plaza.jun.es\n", "privacy.public_url: expected a web address"),
        ("privacy:\n  keep: 3\n", "privacy.keep: unknown key"),
    ],
)
def test_privacy_config_errors_name_the_line(tmp_path: Path, section: str, expected: str) -> None:
    text = (ROOT / "config.yaml").read_text(encoding="utf-8")
    start = text.index("privacy:\n")
    end = text.index("\n\n", start)
    (tmp_path / "config.yaml").write_text(text[:start] + section.rstrip("\n") + text[end:], encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path / "config.yaml", env={})
    line = (text[:start].count("\n")) + 1
    assert expected in str(caught.value)
    assert caught.value.line in (line, line + 1)


def test_the_default_retention_is_a_year(config: Config) -> None:
    assert config.privacy.retention_days == 365


@pytest.mark.slow
def test_plaza_privacy_purge_and_residents_commands(tmp_path: Path) -> None:
    shutil.copy(ROOT / "config.yaml", tmp_path / "config.yaml")
    shutil.copytree(ROOT / "flows", tmp_path / "flows")
    config_path = tmp_path / "config.yaml"
    assert run_plaza(config_path, "db", "upgrade").returncode == 0
    database = Database(load_config(config_path, env={}).database_url)
    try:
        chat = Bot(load_config(config_path, env={}), database).chat("ana", channel="telegram")
        chat.say()
        chat.say("Un mensaje de hace mucho")
        age(database, "Un mensaje de hace mucho", 400)
        done = run_plaza(config_path, "privacy", "purge")
        assert done.returncode == 0, done.stderr
        assert "blanked 2 message bodies older than 365 days" in done.stdout
        assert "Un mensaje de hace mucho" not in bodies(database)

        issued = run_plaza(config_path, "residents", "verify", "--name", "Ana García", "--document", "12345678-Z")
        assert issued.returncode == 0, issued.stderr
        assert "12345678" not in issued.stdout + issued.stderr
        code = issued.stdout.split("code ")[1][:6]
        assert (tmp_path / "var" / "secret.key").stat().st_mode & 0o777 == 0o600
        assert "PLAZA_SECRET_KEY is not set" in issued.stderr
        assert "verificada" in chat.say(f"verificar {code}")

        unlinked = run_plaza(config_path, "residents", "unlink", "--document", "12345678z")
        assert unlinked.returncode == 0, unlinked.stderr
        assert "unlinked: telegram:ana" in unlinked.stdout
        again = run_plaza(config_path, "residents", "unlink", "--channel", "telegram", "--account", "ana")
        assert again.returncode == 1
        bad = run_plaza(config_path, "residents", "verify", "--name", "X", "--document", "1")
        assert bad.returncode == 2 and "5 to 20 letters and digits" in bad.stderr
    finally:
        database.dispose()


def test_old_photos_go_unless_a_report_keeps_them(database: Database) -> None:
    """A report keeps its stored photo, and the archived copy of its platform photo (bot.media)."""
    from sqlalchemy import insert

    from models import MediaItem, ServiceRequest

    media, requests = MediaItem.__table__, ServiceRequest.__table__
    old = datetime.now(UTC) - timedelta(days=400)
    with database.writer.begin() as connection:
        ids = [
            connection.execute(
                insert(media)
                .values(
                    channel=channel,
                    chat_id="s1",
                    mime_type="image/png",
                    size=3,
                    sha256="0" * 64,
                    data=b"png",
                    source_ref=source,
                    created_at=when,
                )
                .returning(media.c.id)
            ).scalar_one()
            for channel, source, when in (
                ("web", None, old),
                ("web", None, old),
                ("web", None, datetime.now(UTC)),
                ("telegram", "AgAC-file-7", old),  # the archived copy of a report's Telegram photo
                ("telegram", "AgAC-file-8", old),  # archived, but no report keeps it
            )
        ]
        for channel, ref in (("web", f"media:{ids[1]}"), ("telegram", "AgAC-file-7")):
            connection.execute(
                insert(requests).values(
                    category="streetlight",
                    department="servicios",
                    description="Farola",
                    language="es",
                    channel=channel,
                    photo_ref=ref,
                )
            )
    assert purge(database.writer, 365, datetime.now(UTC)) == 2
    with database.writer.begin() as connection:
        left = sorted(row.id for row in connection.execute(select(media.c.id)))
    assert left == ids[1:4]


async def test_the_server_purges_on_a_schedule(town: Config, database: Database) -> None:
    import asyncio

    import anyio.to_thread

    from bot.runtime import Plaza

    ana = Bot(town, database).chat("ana", channel="telegram")
    ana.say()
    ana.say("Un mensaje de hace mucho")
    age(database, "Un mensaje de hace mucho", 400)
    plaza = Plaza(town, [], database=database, reload_interval=None, reminder_interval=None, purge_interval=0.1)
    async with plaza:
        for _ in range(200):
            if "Un mensaje de hace mucho" not in await anyio.to_thread.run_sync(bodies, database):
                break
            await asyncio.sleep(0.05)
    assert "Un mensaje de hace mucho" not in bodies(database)
