"""Verifying over the chat: a clerk's code links the account; reused, expired, foreign and guessed codes fail."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from bot.access import Actor
from bot.config import Config
from bot.errors import NotAllowed
from bot.identity import DocumentError
from bot.verification import MAX_ACCOUNT_FAILURES, MAX_CODE_FAILURES
from models import Conversation, ServiceRequest, VerificationCode, VerificationFailure
from models.db import Database
from tests.support.driver import Bot, Chat
from tests.support.residents import CLERK, account, actions, issue, resident

CODES = VerificationCode.__table__
FAILURES = VerificationFailure.__table__
CONVERSATIONS = Conversation.__table__
REQUESTS = ServiceRequest.__table__

LINKED = "esta cuenta ya está verificada"
FAILED = "Ese código no es válido"
LOCKED = "he bloqueado la verificación"
TAKEN = "verificada a nombre de otra persona"
REFUSED = "Para este trámite necesito saber que es usted."
CERTIFICATE = "¿Para qué necesita el certificado de empadronamiento?"


def started(bot: Bot, user: str, channel: str = "telegram") -> Chat:
    chat = bot.chat(user, channel=channel)
    chat.say()
    return chat


def wrong(code: str) -> str:
    """A six-digit code that is not ``code``."""
    return f"{(int(code) + 1) % 1_000_000:06d}"


def test_a_code_from_the_town_hall_verifies_the_account(town: Config, database: Database) -> None:
    bot = Bot(town, database)
    ana = started(bot, "ana")
    assert REFUSED in ana.say("4") + ana.say("1")
    resident_id, code = issue(database)
    assert LINKED in ana.say(f"verificar {code}")
    assert account(database, "telegram", "ana") == (resident_id, True)
    assert resident(database, resident_id).verified
    ana.say("menú")
    ana.say("4")
    assert CERTIFICATE in ana.say("1")


def test_spaces_and_dashes_in_the_code_and_the_english_word(town: Config, database: Database) -> None:
    bot = Bot(town, database)
    ana = started(bot, "ana")
    _, code = issue(database)
    assert "this account is now verified" in (ana.say("idioma en") and ana.say(f"VERIFY {code[:3]}-{code[3:]}"))


def test_the_bare_word_asks_for_the_code(town: Config, database: Database) -> None:
    bot = Bot(town, database)
    ana = started(bot, "ana")
    _, code = issue(database)
    assert "Escriba el código de 6 dígitos" in ana.say("verificar")
    assert LINKED in ana.say(code)


def test_a_code_is_not_six_digits_and_is_not_counted(town: Config, database: Database) -> None:
    bot = Bot(town, database)
    ana = started(bot, "ana")
    assert "El código tiene 6 dígitos" in ana.say("verificar 1234")
    with database.writer.begin() as connection:
        assert connection.execute(select(FAILURES.c.id)).all() == []


def test_two_channels_link_to_one_resident(town: Config, database: Database) -> None:
    """Telegram and Mastodon: each account sends its own code; both end on the same verified resident."""
    bot = Bot(town, database)
    telegram = started(bot, "111", channel="telegram")
    mastodon = started(bot, "acct-9", channel="mastodon")
    mastodon.say("1")  # a report started before verifying: it moves with the account
    first_owner = account(database, "mastodon", "acct-9").resident_id

    resident_id, code = issue(database)
    assert LINKED in telegram.say(f"verificar {code}")
    same, second = issue(database, name="Ana García López", document="12.345.678-z")
    assert same == resident_id, "the same ID number finds the same resident (normalized)"
    assert LINKED in mastodon.say(f"verificar {second}")

    assert account(database, "telegram", "111") == (resident_id, True)
    assert account(database, "mastodon", "acct-9") == (resident_id, True)
    assert first_owner != resident_id
    with database.writer.begin() as connection:
        owners = {row.channel: row.resident_id for row in connection.execute(select(CONVERSATIONS))}
    assert owners == {"telegram": resident_id, "mastodon": resident_id}
    assert resident(database, resident_id).name == "Ana García López"
    mastodon.say("menú")
    mastodon.say("4")
    assert CERTIFICATE in mastodon.say("1")


def test_a_new_code_kills_the_earlier_one(town: Config, database: Database) -> None:
    bot = Bot(town, database)
    ana = started(bot, "ana")
    _, first = issue(database)
    _, second = issue(database)
    if first != second:
        assert FAILED in ana.say(f"verificar {first}")
    assert LINKED in ana.say(f"verificar {second}")


def test_a_used_code_cannot_be_used_again(town: Config, database: Database) -> None:
    bot = Bot(town, database)
    ana, eve = started(bot, "ana"), started(bot, "eve")
    resident_id, code = issue(database)
    assert LINKED in ana.say(f"verificar {code}")
    assert FAILED in eve.say(f"verificar {code}")
    assert account(database, "telegram", "eve").resident_id != resident_id
    assert account(database, "telegram", "eve").verified is False
    failed = [detail for _, action, detail in actions(database) if action == "verification_failed"]
    assert failed[-1]["reason"] == "reused"


def test_an_expired_code_fails(town: Config, database: Database) -> None:
    bot = Bot(town, database)
    ana = started(bot, "ana")
    _, code = issue(database, now=datetime.now(UTC) - timedelta(minutes=16))
    assert FAILED in ana.say(f"verificar {code}")
    assert account(database, "telegram", "ana").verified is False
    failed = [detail for _, action, detail in actions(database) if action == "verification_failed"]
    assert failed[-1]["reason"] == "expired"


def test_a_code_within_its_fifteen_minutes_works(town: Config, database: Database) -> None:
    bot = Bot(town, database)
    ana = started(bot, "ana")
    _, code = issue(database, now=datetime.now(UTC) - timedelta(minutes=14))
    assert LINKED in ana.say(f"verificar {code}")


def test_a_code_cannot_take_over_another_residents_verified_account(town: Config, database: Database) -> None:
    bot = Bot(town, database)
    bea = started(bot, "bea")
    bea_id, bea_code = issue(database, name="Bea", document="87654321X")
    assert LINKED in bea.say(f"verificar {bea_code}")
    ana_id, ana_code = issue(database, name="Ana", document="12345678Z")
    assert TAKEN in bea.say(f"verificar {ana_code}")
    assert account(database, "telegram", "bea") == (bea_id, True)
    # the code was not spent: Ana can still use it on her own account
    ana = started(bot, "ana")
    assert LINKED in ana.say(f"verificar {ana_code}")
    assert account(database, "telegram", "ana") == (ana_id, True)


def test_a_code_links_only_to_the_resident_it_was_issued_for(town: Config, database: Database) -> None:
    """Ana's code sent from Bea's (unverified) account links that account to Ana, never verifies Bea."""
    bot = Bot(town, database)
    bea = started(bot, "bea")
    bea_own = account(database, "telegram", "bea").resident_id
    ana_id, ana_code = issue(database)
    assert LINKED in bea.say(f"verificar {ana_code}")
    assert account(database, "telegram", "bea") == (ana_id, True)
    assert resident(database, bea_own).verified is False


def test_wrong_codes_lock_the_account_for_a_while(town: Config, database: Database) -> None:
    bot = Bot(town, database)
    eve = started(bot, "eve")
    _, code = issue(database)
    for _ in range(MAX_ACCOUNT_FAILURES - 1):
        assert FAILED in eve.say(f"verificar {wrong(code)}")
    locked = eve.say(f"verificar {wrong(code)}")
    assert LOCKED in locked
    assert re.search(r"a partir de las \d\d:\d\d", locked)
    assert LOCKED in eve.say(f"verificar {code}"), "even the right code waits out the lock"
    assert account(database, "telegram", "eve").verified is False
    # the window passes (the failures are 16 minutes old); that code took five wrong tries and died,
    # so the clerk gives a new one, which works
    with database.writer.begin() as connection:
        connection.execute(update(FAILURES).values(at=datetime.now(UTC) - timedelta(minutes=16)))
    assert FAILED in eve.say(f"verificar {code}")
    with database.writer.begin() as connection:
        connection.execute(update(FAILURES).values(at=datetime.now(UTC) - timedelta(minutes=16)))
    _, fresh = issue(database)
    assert LINKED in eve.say(f"verificar {fresh}")


def test_a_code_dies_after_wrong_tries_from_any_accounts(town: Config, database: Database) -> None:
    """Guessing from many accounts does not help: each wrong code counts against every live code."""
    bot = Bot(town, database)
    _, code = issue(database)
    for n in range(MAX_CODE_FAILURES):
        assert FAILED in started(bot, f"bot{n}").say(f"verificar {wrong(code)}")
    ana = started(bot, "ana")
    assert FAILED in ana.say(f"verificar {code}")
    assert account(database, "telegram", "ana").verified is False
    failed = [detail for _, action, detail in actions(database) if action == "verification_failed"]
    assert failed[-1]["reason"] == "dead"


def test_every_outcome_is_audited_without_the_number_or_the_code(town: Config, database: Database) -> None:
    bot = Bot(town, database)
    ana, eve = started(bot, "ana"), started(bot, "eve")
    resident_id, code = issue(database, document="99887766K", actor=CLERK)
    ana.say(f"verificar {code}")
    for _ in range(MAX_ACCOUNT_FAILURES):
        eve.say(f"verificar {wrong(code)}")
    eve.say(f"verificar {wrong(code)}")
    ana.say("desvincular")
    ana.say("sí")
    rows = actions(database)
    assert [(actor, action) for actor, action, _ in rows] == [
        ("clerk", "verification_issued"),
        ("system", "verification_linked"),
        *[("system", "verification_failed")] * MAX_ACCOUNT_FAILURES,
        ("system", "verification_locked"),  # the fifth wrong code locks
        ("system", "verification_locked"),  # and the next one is refused
        ("system", "verification_unlinked"),
    ]
    assert rows[0][2]["resident_id"] == resident_id and rows[1][2]["resident_id"] == resident_id
    logged = json.dumps([detail for _, _, detail in rows])
    assert "99887766" not in logged and code not in logged


def test_the_id_number_is_stored_only_as_a_keyed_hash(town: Config, database: Database) -> None:
    resident_id, _ = issue(database, document="12 345 678-Z")
    row = resident(database, resident_id)
    assert row.document_hash is not None and len(row.document_hash) == 64
    assert "12345678" not in json.dumps({key: str(value) for key, value in row._mapping.items()})
    with database.writer.begin() as connection:
        stored = connection.execute(select(CODES.c.code_hash)).scalar_one()
    assert len(stored) == 64 and stored.isalnum()


def test_only_clerks_issue_codes(town: Config, database: Database) -> None:
    official = Actor(official_id=None, username="pepe", name="Pepe", department="servicios", role="official")
    with pytest.raises(NotAllowed):
        issue(database, actor=official)
    with pytest.raises(DocumentError):
        issue(database, document="12")


def test_unlinking_from_the_chat(town: Config, database: Database) -> None:
    bot = Bot(town, database)
    ana = started(bot, "ana")
    resident_id, code = issue(database)
    ana.say(f"verificar {code}")
    ana.say("4")
    assert CERTIFICATE in ana.say("1")
    assert "¿Desvinculamos esta cuenta?" in ana.say("desvincular")
    assert "no he cambiado nada" in ana.say("no")
    assert account(database, "telegram", "ana").verified is True
    ana.say("desvincular")
    answer = ana.say("sí")
    assert "ya no está vinculada" in answer
    assert REFUSED in answer, "she was inside a procedure for verified residents: back to the menu"
    now = account(database, "telegram", "ana")
    assert now.verified is False and now.resident_id != resident_id
    assert resident(database, resident_id).verified, "the person stays verified; only this account is unlinked"
    assert "no hay nada que desvincular" in ana.say("desvincular")


def test_requests_move_with_the_account_when_it_is_linked(town: Config, database: Database) -> None:
    bot = Bot(town, database)
    ana = started(bot, "ana")
    for text in ("1", "1", "Farola apagada", "omitir", "Calle Real 5"):
        ana.say(text)
    assert "JUN-" in ana.say("sí")
    resident_id, code = issue(database)
    ana.say(f"verificar {code}")
    with database.writer.begin() as connection:
        owners = [row.resident_id for row in connection.execute(select(REQUESTS.c.resident_id))]
    assert owners == [resident_id]


def test_secret_key_of_a_development_sqlite_database(config: Config, database: Database) -> None:
    """Without PLAZA_SECRET_KEY on SQLite, a key file is made beside the database, readable only by its owner."""
    if not database.sqlite:
        pytest.skip("the key file is for SQLite development databases")
    from pathlib import Path

    from bot.secretkey import KEY_FILE, SecretKeys

    keys = SecretKeys(replace(config, secret_key=None))
    first = keys.for_url(database.url)
    path = Path(database.url.removeprefix("sqlite:///")).parent / KEY_FILE
    assert path.stat().st_mode & 0o777 == 0o600
    again = SecretKeys(replace(config, secret_key=None)).for_url(database.url)
    assert first.digest("code", "123456") == again.digest("code", "123456")


def test_an_official_clerk_issues_and_is_named_in_the_audit(town: Config, database: Database) -> None:
    from sqlalchemy import insert

    from models import AuditEntry, Official

    officials, audit_log = Official.__table__, AuditEntry.__table__
    with database.writer.begin() as connection:
        official_id = connection.execute(
            insert(officials)
            .values(
                username="marta",
                name="Marta",
                department="secretaria",
                role="clerk",
                password_hash="x",
                language="es",
                disabled=False,
                created_at=datetime.now(UTC),
            )
            .returning(officials.c.id)
        ).scalar_one()
    marta = Actor(official_id=official_id, username="marta", name="Marta", department="secretaria", role="clerk")
    issue(database, actor=marta)
    with database.writer.begin() as connection:
        row = connection.execute(select(audit_log.c.official_id, audit_log.c.actor, audit_log.c.action)).one()
        issued_by = connection.execute(select(CODES.c.official_id)).scalar_one()
    assert tuple(row) == (official_id, "marta", "verification_issued")
    assert issued_by == official_id
