"""The takeover race: residents keep writing while officials take their conversations over.

Over the real Telegram channel and its fake Bot API server: once a takeover
has committed (and the bot's messages already on their way have landed), the
fake must receive nothing more from the bot for that chat, only the
officials' own messages.
"""

from __future__ import annotations

import random
import threading
import time

from sqlalchemy import insert, select

from adapters.testing.telegram_server import User
from bot.access import Actor
from bot.audit import entries
from bot.config import Config
from bot.handoff import Handoffs, wait_for_sends
from bot.notices import Wording
from models import Conversation, HandoffRequest, InboxItem, Official, OutboxItem
from tests.channels.telegram.conftest import Town
from tests.support.server import wait_for

CONVERSATIONS = Conversation.__table__
HANDOFFS = HandoffRequest.__table__
OFFICIALS = Official.__table__
INBOX = InboxItem.__table__
OUTBOX = OutboxItem.__table__

RESIDENTS = 8
TAKEN_NOTICE = "le atiende ahora por este chat"


def _official(town: Town, username: str) -> Actor:
    with town.database.writer.begin() as connection:
        official_id = connection.execute(
            insert(OFFICIALS)
            .values(
                username=username,
                name=username.title(),
                department="servicios",
                role="official",
                password_hash="-",
                language="es",
                disabled=False,
            )
            .returning(OFFICIALS.c.id)
        ).scalar_one()
    return Actor(official_id, username, username.title(), "servicios", "official")


def _conversation_of(town: Town, user: User) -> int:
    with town.database.reader.connect() as connection:
        return int(
            connection.execute(
                select(CONVERSATIONS.c.id).where(
                    CONVERSATIONS.c.channel == "telegram", CONVERSATIONS.c.chat_id == str(user.id)
                )
            ).scalar_one()
        )


def _waiting(town: Town) -> int:
    with town.database.reader.connect() as connection:
        return len(connection.execute(select(HANDOFFS.c.id).where(HANDOFFS.c.status == "waiting")).all())


def _quiet(town: Town) -> bool:
    if town.fake.pending_updates():
        return False  # the fake is still delivering what residents wrote
    with town.database.reader.connect() as connection:
        busy = connection.execute(select(INBOX.c.id).where(INBOX.c.status == "pending").limit(1)).first()
        sending = connection.execute(
            select(OUTBOX.c.id).where(OUTBOX.c.status.in_(("pending", "sending"))).limit(1)
        ).first()
    return busy is None and sending is None


def test_after_a_takeover_commits_the_bot_never_speaks_again(config: Config, town_on_both: Town) -> None:
    town, fake = town_on_both, town_on_both.fake
    rng = random.Random(20261124)
    users = [fake.user(2000 + n, first_name=f"Vecino{n}") for n in range(RESIDENTS)]
    for user in users:  # each asks for Servicios Municipales through talk_to
        for text in ("hola", "persona", "con un departamento", "servicios municipales", "Se ha caído una farola"):
            fake.push_text(user, text)
    wait_for(lambda: _waiting(town) == RESIDENTS, timeout=60)

    handoffs = Handoffs(Wording(config))
    officials = [_official(town, "ana"), _official(town, "luis")]
    stop = threading.Event()
    written: dict[int, int] = {user.id: 0 for user in users}

    def keep_writing() -> None:
        while not stop.is_set():
            user = rng.choice(users)
            fake.push_text(user, rng.choice(["hola", "¿hay alguien?", "1", "menú", "ayuda", "gracias"]))
            written[user.id] += 1
            time.sleep(0.01)

    writer = threading.Thread(target=keep_writing, name="residents")
    writer.start()
    taken_at: dict[int, float] = {}
    try:
        time.sleep(0.5)  # the bot is answering (and its replies pile up behind Telegram's 1/s per chat)
        for user in rng.sample(users, len(users)):
            time.sleep(rng.uniform(0.05, 0.3))
            conversation = _conversation_of(town, user)
            with town.database.writer.begin() as connection:
                handoffs.take(connection, rng.choice(officials), conversation)
            assert wait_for_sends(town.database.writer, conversation)
            taken_at[user.id] = time.monotonic()
        time.sleep(0.5)  # residents go on writing to officials for a while
    finally:
        stop.set()
        writer.join()
    wait_for(lambda: _quiet(town), timeout=240)  # a guard against a hang, not a speed check

    bot_after = 0
    bot_before = 0
    for user in users:
        for sent in fake.sent_to(user.id):
            official = sent.text is not None and TAKEN_NOTICE in sent.text
            if sent.at > taken_at[user.id] and not official:
                bot_after += 1
            elif not official:
                bot_before += 1
    with town.database.reader.connect() as connection:
        cancelled = sum(int(e.detail["bot_replies_cancelled"]) for e in entries(connection) if e.action == "take")
        stale = connection.execute(
            select(INBOX.c.id, INBOX.c.status, INBOX.c.attempts, INBOX.c.error).where(INBOX.c.status != "done")
        ).all()
    assert bot_after == 0, "the bot spoke after an official took the conversation over"
    assert bot_before > 0 and sum(written.values()) > RESIDENTS, "the race was real: the bot was answering"
    assert cancelled > 0, "some of the bot's replies were still waiting when the officials took over"
    assert stale == [], "every resident message was processed (none lost, none failed)"
    print(
        f"\nrace: {sum(written.values())} resident messages during the takeovers, {bot_before} bot messages "
        f"delivered before, {cancelled} bot replies cancelled by {len(users)} takeovers, {bot_after} after"
    )
