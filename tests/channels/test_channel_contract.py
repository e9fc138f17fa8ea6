"""The channel contract: the same cases against every platform adapter, each through its real library.

Telegram (python-telegram-bot, webhook mode, the fake Bot API delivering
updates), Mastodon (Mastodon.py streaming from ``mastodon-mock``) and X (tweepy
against the fake X API, signed webhook POSTs) are driven the platform's own
way by :mod:`tests.support.contract`, over real HTTP on loopback ports, into
Plaza's whole app on SQLite. A case that cannot apply to a platform is skipped
with the reason.
"""

from __future__ import annotations

import itertools
import math
import shutil
import sqlite3
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Literal

import pytest

from bot.config import Config
from bot.messages import Option
from bot.outbox import Reply
from models.db import Database
from tests.support.contract import MENU, Platform, Town, running_town
from tests.support.contract_platforms import platform_named
from tests.support.server import ROOT, PlazaProcess, run_plaza, wait_for

PLATFORMS = ["telegram", "mastodon", "x"]
APOLOGY = {
    "es": "todavía no sé leer este tipo de mensaje",
    "en": "I cannot read this kind of message yet",
}
CATEGORY = "¿Qué ha pasado?"
PHOTO = "Si puede, envíe una foto"
PLACE = "¿Dónde es?"
CONFIRM = "¿Lo enviamos?"


@pytest.fixture(autouse=True)
def _timedelta_periods(monkeypatch: pytest.MonkeyPatch) -> None:
    """python-telegram-bot's timedelta periods (its int form warns, and warnings are errors here)."""
    monkeypatch.setenv("PTB_TIMEDELTA", "true")


@pytest.fixture(params=PLATFORMS)
def platform(request: pytest.FixtureRequest) -> Iterator[Platform]:
    with platform_named(request.param) as running:
        yield running


@pytest.fixture
def town(platform: Platform, config: Config, sqlite: Database) -> Iterator[Town]:
    with running_town(platform, config, sqlite) as running:
        yield running


def webhook_only(platform: Platform, why: str) -> None:
    if not platform.webhook:
        pytest.skip(f"{platform.name} has no webhook: Plaza reads it itself with the bot's own token, so {why}")


def walk_to_photo(town: Town, resident: Any) -> None:
    """Through the menu to the report's photo question (buttons or numbers, as the platform does options)."""
    platform = town.platform
    town.greet(resident)
    town.exchange(resident, lambda: platform.choose(resident, "Avisar de una incidencia"), CATEGORY)
    town.exchange(resident, lambda: platform.choose(resident, "Alumbrado público"), "Cuénteme")
    town.exchange(resident, lambda: platform.say(resident, "La farola de la esquina no enciende"), PHOTO)


# --- conversations ------------------------------------------------------------------------


def test_text_in_and_reply_out(town: Town) -> None:
    resident = town.platform.resident()
    key = town.platform.say(resident, "hola")
    town.wait_reply(resident, MENU["es"])
    town.settled(resident)
    assert [(row.platform_message_id, row.status) for row in town.inbox(resident)] == [(key, "done")]
    assert "Ayuntamiento de Jun" in "\n".join(town.platform.replies(resident))
    assert {row.status for row in town.outbox(resident)} == {"sent"}


def test_a_button_press_or_numbered_choice(town: Town) -> None:
    resident = town.platform.resident()
    town.greet(resident)
    question = town.exchange(resident, lambda: town.platform.choose(resident, "Avisar de una incidencia"), CATEGORY)
    assert question
    town.settled(resident)
    last = town.inbox(resident)[-1].payload
    assert last["choice"] == "report" or last["text"] == "1"


def test_a_photo(town: Town) -> None:
    resident = town.platform.resident()
    walk_to_photo(town, resident)
    town.exchange(resident, lambda: town.platform.photo(resident), PLACE)
    town.settled(resident)
    photos = town.inbox(resident)[-1].payload["photos"]
    assert len(photos) == 1 and photos[0]["ref"]


def test_a_location_or_a_map_link(town: Town) -> None:
    resident = town.platform.resident()
    walk_to_photo(town, resident)
    town.exchange(resident, lambda: town.platform.photo(resident), PLACE)
    confirm = town.exchange(resident, lambda: town.platform.location(resident, 37.2186, -3.5961), CONFIRM)
    assert "37.21860" in confirm and "-3.59610" in confirm, confirm


def test_a_reply_longer_than_the_limit_arrives_complete_and_in_order(town: Town) -> None:
    platform = town.platform
    resident = platform.resident()
    words = (f"palabra{n}" for n in range(100_000))
    paragraphs: list[str] = []
    while sum(len(p) + 2 for p in paragraphs) < platform.max_text * 5 // 2:
        paragraphs.append(f"Párrafo {len(paragraphs)}: " + " ".join(next(words) for _ in range(40)))
    text = "\n\n".join(paragraphs)
    town.enqueue(resident, Reply(text=text, options=(Option("yes", "Sí"), Option("no", "No"))))
    wait_for(lambda: [row.status for row in town.outbox(resident)] == ["sent"], 60)
    parts = platform.replies(resident)
    assert len(parts) >= 3
    assert all(len(part) <= platform.max_text for part in parts)  # Mastodon's own check counts the mention too
    assert platform.last_options(resident) == ["Sí", "No"], "the options come with the last part"
    numbered = "" if platform.buttons else " 1. Sí 2. No"
    assert " ".join(" ".join(parts).split()) == " ".join(text.split()) + numbered


def test_the_same_update_delivered_three_times_gets_one_reply(town: Town) -> None:
    resident = town.platform.resident()
    key = town.platform.say_three_times(resident, "hola")
    town.wait_reply(resident, MENU["es"])
    town.settled(resident)
    assert [row.platform_message_id for row in town.inbox(resident)] == [key]
    assert sum(MENU["es"] in text for text in town.platform.replies(resident)) == 1
    assert len(town.platform.replies(resident)) == len(town.outbox(resident))


def test_the_same_event_pushed_three_times_at_once_is_stored_once_and_answered_once(
    platform: Platform, config: Config, database: Database
) -> None:
    """Redeliveries racing each other (on PostgreSQL two transactions can insert the same key at once)."""
    webhook_only(platform, "nothing is pushed to it twice at once (its read marker is tested above)")
    with running_town(platform, config, database) as town:
        residents = []
        for _ in range(4):
            resident, body = platform.event()
            with ThreadPoolExecutor(3) as pool:
                answers = list(pool.map(town.post, [body] * 3, ["right"] * 3))
            statuses = [answer.status_code for answer in answers]
            assert statuses == [200] * 3, [answer.text for answer in answers]
            residents.append(resident)
        assert town.stored() == len(residents)
        for resident in residents:
            town.wait_reply(resident, MENU["es"])
            town.settled(resident)
            assert sum(MENU["es"] in text for text in platform.replies(resident)) == 1


@pytest.mark.parametrize(("kind", "language"), [("sticker", "es"), ("voice", "en")])
def test_unsupported_content_gets_a_polite_answer_in_the_residents_language(
    town: Town, kind: Literal["sticker", "voice"], language: str
) -> None:
    resident = town.platform.resident(language)
    town.greet(resident)
    sent: list[str] = []
    town.exchange(resident, lambda: sent.append(town.platform.unsupported(resident, kind)), APOLOGY[language])
    town.settled(resident)
    last = town.inbox(resident)[-1].payload
    assert (last["unsupported"], last["text"], last["photos"]) == (sent[0], None, [])


def test_a_429_is_waited_out_and_the_server_sees_no_send_before_it_ends(town: Town) -> None:
    platform = town.platform
    resident = platform.resident()
    before = len(platform.send_attempts())
    earliest = platform.rate_limit_sends(3)
    town.enqueue(resident, Reply(text="Su cita es el lunes a las 10:00."))
    town.wait_reply(resident, "Su cita es el lunes", timeout=60)
    wait_for(lambda: [row.status for row in town.outbox(resident)] == ["sent"], 20)
    refused_at, *later = platform.send_attempts()[before:]
    assert later, "the refused send went again"
    assert min(later) >= earliest(refused_at) - 0.05, (refused_at, later)
    assert sum("Su cita es el lunes" in text for text in platform.replies(resident)) == 1
    [row] = town.outbox(resident)
    assert row.attempts == 2 and row.last_error


def most_in_a_second(times: list[float]) -> int:
    """The most sends any one-second window [t, t + 1) saw."""
    ordered = sorted(times)
    most, start = 0, 0
    for end, at in enumerate(ordered):
        while ordered[start] <= at - 1.0:
            start += 1
        most = max(most, end - start + 1)
    return most


def test_a_burst_is_paced_within_the_platforms_limits(town: Town) -> None:
    """Replies to many chats at once: the server never sees more per second, or per chat, than the limits say."""
    platform = town.platform
    if platform.burst is None:
        pytest.skip(
            f"{platform.name} allows 15 DMs per 15 minutes: a burst would take hours; its declared limits "
            "(one a minute) are tested in test_x_channel, and waiting out its 429 in the case above"
        )
    replies, chats = platform.burst
    residents = [platform.resident() for _ in range(chats)]
    for n in range(replies // chats):
        for resident in residents:
            town.enqueue(resident, Reply(text=f"Aviso {n + 1} de {replies // chats}."))
    wait_for(lambda: len(platform.sent_log()) >= replies, replies / town.channel.limits.overall_per_s * 3 + 30)
    log = platform.sent_log()
    assert len(log) == replies
    limits = town.channel.limits
    times = [at for at, _ in log]
    overall = most_in_a_second(times)
    per_chat = {chat: sorted(at for at, to in log if to == chat) for chat in {to for _, to in log}}
    gaps = [later - earlier for chat_times in per_chat.values() for earlier, later in itertools.pairwise(chat_times)]
    print(
        f"\n{platform.name}: {replies} replies to {chats} chats in {max(times) - min(times):.1f} s: "
        f"{(replies - 1) / (max(times) - min(times)):.1f}/s on average, at most {overall} in any second; "
        f"per chat at most {max(most_in_a_second(t) for t in per_chat.values())} in any second, "
        f"the shortest gap {min(gaps):.2f} s (limits: {limits.overall_per_s:g}/s overall, "
        f"{limits.per_chat_per_s:g}/s per chat)"
    )
    # one more than the limit: a request can reach the server a little later than it left, bunching with the next
    assert overall <= math.floor(limits.overall_per_s) + 1
    assert min(gaps) >= 1 / limits.per_chat_per_s - 0.1
    assert all(len(chat_times) == replies // chats for chat_times in per_chat.values())


# --- what a webhook refuses: nothing stored --------------------------------------------------


@pytest.mark.parametrize(("credential", "status"), [("wrong", 403), ("missing", 401)])
def test_a_forged_or_missing_signature_is_refused_and_nothing_stored(
    town: Town, credential: Literal["wrong", "missing"], status: int
) -> None:
    webhook_only(town.platform, "there is no pushed request whose signature could be forged")
    _, body = town.platform.event()
    response = town.post(body, credential)
    assert response.status_code == status, response.text
    assert response.json()["error"]
    assert town.stored() == 0
    assert town.post(body, "right").status_code == 200, "the same body with the right credential is taken"
    assert town.stored() == 1


def test_a_malformed_payload_is_400_and_nothing_stored(town: Town) -> None:
    webhook_only(town.platform, "there is no pushed body that could be malformed")
    for body in town.platform.malformed():
        response = town.post(body, "right")
        assert response.status_code == 400, (body, response.text)
        assert response.json()["error"]
    assert town.stored() == 0


# --- a crash between inbox and outbox -------------------------------------------------------


@pytest.fixture
def served_town(platform: Platform, tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A copy of the town with the platform switched on, migrated, for ``plaza serve``."""
    old, new, env = platform.serve()
    text = (ROOT / "config.yaml").read_text(encoding="utf-8")
    assert old in text
    (tmp_path / "config.yaml").write_text(text.replace(old, new), encoding="utf-8")
    shutil.copytree(ROOT / "flows", tmp_path / "flows")
    upgraded = run_plaza(tmp_path / "config.yaml", "db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    return tmp_path / "config.yaml", {**env, "PLAZA_LOG_LEVEL": "INFO"}


@pytest.fixture
def servers() -> Iterator[list[PlazaProcess]]:
    started: list[PlazaProcess] = []
    yield started
    for server in started:
        server.kill()


def query(config: Path, sql: str, *params: Any) -> list[sqlite3.Row]:
    connection = sqlite3.connect(config.parent / "var" / "plaza.sqlite3", timeout=30)
    try:
        connection.row_factory = sqlite3.Row
        return connection.execute(sql, params).fetchall()
    finally:
        connection.close()


@pytest.mark.slow
@pytest.mark.parametrize(
    "hold", ["PLAZA_TEST_HOLD_PROCESSOR", "PLAZA_TEST_HOLD_DISPATCHER"], ids=["before-processing", "before-sending"]
)
def test_killed_between_inbox_and_outbox_one_reply_after_restart(
    platform: Platform, served_town: tuple[Path, dict[str, str]], servers: list[PlazaProcess], hold: str
) -> None:
    config, env = served_town
    held = PlazaProcess(config, env={**env, hold: "1"})
    servers.append(held)
    held.start()
    platform.attach(held.base_url)
    resident = platform.resident()
    key = platform.say(resident, "hola")
    chat = resident.chat_id
    wait_for(lambda: query(config, "SELECT id FROM inbox WHERE chat_id = ?", chat), 30)
    if hold == "PLAZA_TEST_HOLD_DISPATCHER":
        wait_for(lambda: query(config, "SELECT id FROM outbox WHERE chat_id = ?", chat), 30)
    held.kill()
    stored = query(config, "SELECT platform_message_id, status FROM inbox WHERE chat_id = ?", chat)
    expected = "done" if hold == "PLAZA_TEST_HOLD_DISPATCHER" else "pending"
    assert [tuple(row) for row in stored] == [(key, expected)]
    assert platform.replies(resident) == []

    restarted = PlazaProcess(config, env=env)
    servers.append(restarted)
    restarted.start()
    platform.attach(restarted.base_url)
    wait_for(lambda: any(MENU["es"] in text for text in platform.replies(resident)), 60)
    sent = "SELECT status, attempts FROM outbox WHERE chat_id = ?"
    wait_for(lambda: all(row["status"] == "sent" for row in query(config, sent, chat)), 30)
    restarted.stop()

    inbox = query(config, "SELECT platform_message_id, status FROM inbox WHERE chat_id = ?", chat)
    assert [tuple(row) for row in inbox] == [(key, "done")]
    outbox = query(config, sent, chat)
    assert [tuple(row) for row in outbox] == [("sent", 1)] * len(outbox)
    replies = platform.replies(resident)
    assert len(replies) >= len(outbox) and sum(MENU["es"] in text for text in replies) == 1
