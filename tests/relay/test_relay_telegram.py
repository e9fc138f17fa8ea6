"""An official answers a resident from their own Telegram, over real HTTP: fake Bot API -> webhook -> engine -> fake.

The official replies to the relayed message with Telegram's reply; the
adapter maps ``reply_to_message`` to ``reply_to``, and the reply reaches the
resident's chat as the official's message.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import insert

from adapters.testing.telegram_server import FakeTelegram, serve_fake_telegram
from bot.config import Config
from bot.relay_links import link_account
from models import Official
from models.db import Database
from tests.channels.telegram.conftest import MENU, Town, plaza_town, wait_text

OFFICIALS = Official.__table__


@pytest.fixture
def town(config: Config, sqlite: Database, monkeypatch: pytest.MonkeyPatch) -> Iterator[Town]:
    monkeypatch.setenv("PTB_TIMEDELTA", "true")  # see tests/channels/telegram/conftest.py
    fake: FakeTelegram
    with serve_fake_telegram() as fake:
        yield from plaza_town(config, sqlite, fake)


def add_police_official(database: Database, telegram_id: int) -> None:
    with database.writer.begin() as connection:
        connection.execute(
            insert(OFFICIALS).values(
                username="pilar",
                name="Pilar Ruiz",
                department="policia",
                role="official",
                password_hash="x",
                language="es",
                disabled=False,
                created_at=datetime.now(UTC),
            )
        )
        link_account(connection, "pilar", "telegram", str(telegram_id))


def test_an_official_answers_by_replying_on_telegram(town: Town) -> None:
    fake = town.fake
    ana = fake.user(101, "Ana")
    pilar = fake.user(201, "Pilar")
    add_police_official(town.database, pilar.id)

    fake.push_text(ana, "hola")
    wait_text(fake, ana.id, MENU)
    for text, answer in (
        ("persona", "¿Con quién quiere hablar?"),
        ("con un departamento", "¿Con qué departamento?"),
        ("policía", "escriba en pocas palabras"),
        ("Me han robado la bicicleta", "Hecho, se lo pasamos a Policía Local"),
    ):
        seen = len(fake.sent_to(ana.id))
        fake.push_text(ana, text)
        wait_text(fake, ana.id, answer, after=seen)

    notice = wait_text(fake, pilar.id, "Me han robado la bicicleta")
    found = re.match(r"#(\d+) · Policía Local · Ana \(telegram\): ", notice.text or "")
    assert found is not None, notice.text
    number = int(found.group(1))

    seen_ana, seen_pilar = len(fake.sent_to(ana.id)), len(fake.sent_to(pilar.id))
    fake.webhook_repeat = 2  # the reply's update is delivered twice: it still acts once
    update_id = fake.push_reply(pilar, notice, "Hola Ana, ¿dónde estaba aparcada?")
    wait_text(fake, ana.id, "Pilar Ruiz: Hola Ana, ¿dónde estaba aparcada?", after=seen_ana)
    wait_text(fake, pilar.id, f"#{number} es suya", after=seen_pilar)
    fake.webhook_repeat = 1
    assert [status for update, status in fake.webhook_deliveries() if update == update_id] == [200, 200]
    stored = [row for row in town.inbox(pilar.id) if row.payload["text"].startswith("Hola Ana")]
    assert [row.payload["reply_to"] for row in stored] == [str(notice.message_id)]
    town.settled(ana.id)
    town.settled(pilar.id)
    assert [sent.text for sent in fake.sent_to(ana.id)[seen_ana:]] == [
        "Pilar Ruiz, del Ayuntamiento, le atiende ahora por este chat. El asistente automático queda en pausa.",
        "Pilar Ruiz: Hola Ana, ¿dónde estaba aparcada?",
    ]
    assert len(fake.sent_to(pilar.id)) == seen_pilar + 1

    # the resident answers: the bot stays silent, the official gets it on Telegram
    seen_ana, seen_pilar = len(fake.sent_to(ana.id)), len(fake.sent_to(pilar.id))
    fake.push_text(ana, "En la plaza, junto a la fuente")
    relayed = wait_text(fake, pilar.id, f"#{number} · Ana: En la plaza, junto a la fuente", after=seen_pilar)
    town.settled(ana.id)
    assert len(fake.sent_to(ana.id)) == seen_ana

    fake.push_reply(pilar, relayed, "Vamos para allá")
    wait_text(fake, ana.id, "Pilar Ruiz: Vamos para allá", after=seen_ana)
    seen_pilar = len(fake.sent_to(pilar.id))
    fake.push_text(pilar, f"/resolver {number}")
    wait_text(fake, pilar.id, f"#{number} queda resuelta", after=seen_pilar)
    wait_text(fake, ana.id, "Damos su consulta por resuelta", after=seen_ana)
    # Pilar never became a resident: her messages were all handled as an official's
    town.settled(pilar.id)
    assert all(row.status == "done" for row in town.inbox(pilar.id))
    town.settled(ana.id)
    after = [sent.text or "" for sent in fake.sent_to(ana.id)[seen_ana:]]
    assert after[0] == "Pilar Ruiz: Vamos para allá"
    assert after[1].startswith("Damos su consulta por resuelta")
    assert len(after) == 2
