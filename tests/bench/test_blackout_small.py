"""The 10 % blackout: 500 messages on Telegram, Mastodon and X (duplicates, late redeliveries, malformed and badly
signed requests), a broadcast to 2,250 subscribers, 5 takeovers and the processing process SIGKILLed mid-burst,
against real ``plaza serve`` / ``plaza worker`` processes and the local platforms over HTTP.

It proves, on SQLite and on PostgreSQL: no accepted message is lost or processed twice, every chat's replies are the
script's in order, the bot says nothing after an official took a conversation over, every valid message got its
reply written, and every malformed request was refused. Correctness only: timings belong to ``plaza bench blackout``.
"""

from __future__ import annotations

import pytest

from bot.bench.blackout import run_mode
from bot.bench.blackout_measure import Outcome
from bot.config import Config
from tests.support.databases import postgres_url

pytestmark = pytest.mark.slow


def _check(outcome: Outcome) -> None:
    problems = "\n".join(outcome.problems)
    assert outcome.zeros() == dict.fromkeys(outcome.zeros(), 0), problems
    assert outcome.messages == 500
    assert outcome.takeovers == 5 and outcome.takeover_misses == 0
    assert outcome.malformed_total > 0 and outcome.malformed_refused == outcome.malformed_total
    assert outcome.resent_at_crash <= 3, "at most the one send in flight per platform when the process died"
    assert sum(channel[0] for channel in outcome.broadcast.values()) == 2_250


# Mastodon's 300 requests per 5 minutes stays in the bench: a 429 there pauses reading for up to 5 minutes.
def test_blackout_at_a_tenth_on_sqlite(config: Config) -> None:
    _check(run_mode(config, "sqlite", scale=0.1, drain=90, log=False, wait_replies=False, mastodon_limit=False))


@pytest.mark.postgres
def test_blackout_at_a_tenth_on_postgresql_with_two_workers(config: Config) -> None:
    url = postgres_url()
    _check(
        run_mode(config, "pg2", scale=0.1, drain=90, postgres=url, log=False, wait_replies=False, mastodon_limit=False)
    )
