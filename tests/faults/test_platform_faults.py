"""A platform that answers 5xx, answers too late, or closes the connection: the outbox retries with growing
waits until the reply is delivered, while the webhook keeps accepting what residents write (200).

Over real HTTP, through the real libraries: python-telegram-bot against the
fake Bot API (``fail_next``, ``stall_next``: the message is delivered but the
answer comes after the client's timeout, ``drop_next``: delivered, then the
connection closes mid-answer), and Mastodon.py against ``mastodon-mock``
(an answer slower than the client's timeout, after the status was created).

What the resident sees: a 5xx delivered nothing, so the reply arrives once.
A lost answer hides a delivery: Mastodon's ``Idempotency-Key`` (the outbox
row) makes the retry return the status already created, so once; Telegram
has no such key, so the retry delivers a second copy, which is counted: one
per lost answer, never more.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from adapters.testing.mastodon_server import JUN_TOKEN
from adapters.testing.telegram_server import FakeTelegram
from bot.config import Config
from models.db import Database
from tests.support.contract import MENU, running_town
from tests.support.contract_platforms import MastodonPlatform, TelegramPlatform, platform_named
from tests.support.server import wait_for


@pytest.fixture(autouse=True)
def _timedelta_periods(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", "true")


@pytest.fixture
def telegram() -> Iterator[TelegramPlatform]:
    with platform_named("telegram") as running:
        assert isinstance(running, TelegramPlatform)
        running.request_timeout = 0.5
        yield running


def five_hundreds(fake: FakeTelegram) -> int:
    fake.fail_next("sendMessage", 502, "Bad Gateway")
    return 0  # nothing was delivered by a refused call


def too_late(fake: FakeTelegram) -> int:
    fake.stall_next("sendMessage", 1.5)  # the client gives up at 0.5 s
    return 1


def cut_short(fake: FakeTelegram) -> int:
    fake.drop_next("sendMessage")
    return 1


@pytest.mark.parametrize("fault", [five_hundreds, too_late, cut_short], ids=["5xx", "timeout", "closed"])
def test_telegram_faults_are_retried_until_delivered_and_the_webhook_keeps_accepting(
    telegram: TelegramPlatform, config: Config, sqlite: Database, fault: Callable[[FakeTelegram], int]
) -> None:
    fake = telegram.fake
    with running_town(telegram, config, sqlite) as town:
        ana, bea = telegram.resident(), telegram.resident()
        lost_answers = fault(fake)
        fake.fail_next("sendMessage", 503, "Service Unavailable", times=10_000)  # and down until cleared
        telegram.say(ana, "hola")
        wait_for(lambda: town.outbox(ana) and town.outbox(ana)[0].attempts >= 1, 20)
        # the platform is in trouble: what residents write is still taken and stored
        during = [int(telegram.say(bea, said)) for said in ("hola", "ayuda")]
        wait_for(lambda: len(town.inbox(bea)) == 2, 20)
        assert [status for update, status in fake.webhook_deliveries() if update in during] == [200, 200]
        wait_for(lambda: town.outbox(bea), 20)  # processed too; its reply waits behind the outage
        assert {row.status for row in town.outbox(ana) + town.outbox(bea)} <= {"pending", "sending"}
        assert town.outbox(ana)[0].last_error, "the reason is kept on the row"
        fake.clear_faults("sendMessage")

        town.wait_reply(ana, MENU["es"], timeout=60)
        town.wait_reply(bea, MENU["es"], timeout=60)
        wait_for(lambda: {row.status for row in town.outbox(ana) + town.outbox(bea)} == {"sent"}, 60)
        row = town.outbox(ana)[0]
        copies = sum(MENU["es"] in text for text in telegram.replies(ana))
        print(f"\n{fault.__name__}: attempts {row.attempts}, copies seen by the resident {copies}")
        assert row.attempts >= 2, "the faulty call, then the retries"
        assert copies == 1 + lost_answers, "a copy per lost answer (no idempotency key), never a loss"
        assert len(town.inbox(bea)) == 2 and {r.status for r in town.inbox(bea)} == {"done"}


def test_mastodon_answer_after_the_timeout_is_sent_once_thanks_to_the_idempotency_key(
    config: Config, sqlite: Database
) -> None:
    with platform_named("mastodon") as mastodon:
        assert isinstance(mastodon, MastodonPlatform)
        mastodon.request_timeout = 0.5
        with running_town(mastodon, config, sqlite) as town:
            maria = mastodon.resident()
            # two: the resident's own post (whose client waits 15 s) and then the bot's reply
            with mastodon.server.late(path="/api/v1/statuses", seconds=1.5, count=2):
                posted = len(mastodon.server.requests_to("POST", "/api/v1/statuses", JUN_TOKEN))
                mastodon.say(maria, "hola")
                wait_for(lambda: town.outbox(maria) and town.outbox(maria)[0].attempts >= 1, 30)
            town.wait_reply(maria, MENU["es"], timeout=60)
            wait_for(lambda: {row.status for row in town.outbox(maria)} == {"sent"}, 30)
            [row] = town.outbox(maria)
            posts = mastodon.server.requests_to("POST", "/api/v1/statuses", JUN_TOKEN)[posted:]
            copies = sum(MENU["es"] in text for text in mastodon.replies(maria))
            print(f"\nmastodon timeout: attempts {row.attempts}, requests {len(posts)}, copies seen {copies}")
            assert row.attempts == 2 and len(posts) == 2, "the request that timed out, then the retry"
            assert [status for _, status in posts] == [200, 200], "the first one did create the status"
            assert copies == 1, "the retry carried the same Idempotency-Key: no second status"
