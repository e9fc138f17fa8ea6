"""Every shipped flow can be finished by typing numbers only, and no question refuses every number.

A resident who only types digits (Jun's over-65s learnt "press the number")
explores the bot breadth-first: at each question it tries every option number,
or a numeric answer of the kind asked (a count, 25/12, 1030, coordinates, "1"
to skip). Each path is replayed from a new chat. The test fails if a flow is
never finished that way, or if some question accepts none of those answers.
"""

from __future__ import annotations

import itertools
from collections import deque
from datetime import date, timedelta

from sqlalchemy import select, update

from bot.config import Config
from bot.messages import OutboundMessage
from models import Conversation, Resident
from models.db import Database
from tests.support.driver import Bot

CONVERSATIONS = Conversation.__table__  # type: ignore[attr-defined]
RESIDENTS = Resident.__table__  # type: ignore[attr-defined]
MAX_PATHS = 600


def numeric_answers(reply: OutboundMessage) -> list[str]:
    """What a numbers-only resident can type to this question."""
    count = len(reply.options)
    kind = reply.expects
    if kind in ("choice", "yes_no"):
        return [str(n) for n in range(1, count + 1)]
    skip = ["1"] if count else []
    day = date.today() + timedelta(days=3)
    typed = {
        "text": ["1234567890 1234567890"],  # long enough for any min_length of the shipped flows
        "number": ["3"],
        "date": [f"{day.day}/{day.month}"],
        "time": ["1030"],
        "location": ["37.13, -3.59"],
        "photo": [],
    }.get(kind or "", [])
    return typed + skip if kind in ("text", "location") else skip + typed


class Explorer:
    def __init__(self, bot: Bot, database: Database, verified: bool) -> None:
        self.bot = bot
        self.database = database
        self.verified = verified
        self.paths = 0
        self.finished: set[str] = set()
        self.stuck: list[str] = []

    def where(self, chat_id: str) -> tuple[str, str, str]:
        """The flow and state, and the flows that called it (a part asked from two flows is two places)."""
        with self.database.writer.begin() as connection:
            row = connection.execute(
                select(CONVERSATIONS.c.flow, CONVERSATIONS.c.state, CONVERSATIONS.c.data).where(
                    CONVERSATIONS.c.chat_id == chat_id
                )
            ).one()
        callers = "/".join(f"{frame['flow']}.{frame['state']}" for frame in (row.data or {}).get("stack", []))
        return row.flow, row.state, callers

    def replay(self, inputs: tuple[str, ...]) -> tuple[str, list[OutboundMessage], list[tuple[str, str, str]]]:
        self.paths += 1
        chat_id = f"{'v' if self.verified else 'u'}{self.paths}"
        chat = self.bot.chat(chat_id)
        replies = chat.send("hola")
        if self.verified:
            with self.database.writer.begin() as connection:
                connection.execute(update(RESIDENTS).values(verified=True))
        trail = [self.where(chat_id)]
        for text in inputs:
            replies = chat.send(text)
            trail.append(self.where(chat_id))
        return chat_id, replies, trail

    def run(self, main: str) -> set[tuple[str, str, str]]:
        seen: set[tuple[str, str, str]] = set()
        todo: deque[tuple[str, ...]] = deque([()])
        while todo and self.paths < MAX_PATHS:
            inputs = todo.popleft()
            _, replies, trail = self.replay(inputs)
            for before, after in itertools.pairwise(trail):
                if before[0] != main and after[0] == main:
                    self.finished.add(before[0])
            here = trail[-1]
            if inputs and trail[-2] == here and here[0] != main:
                continue  # this answer was refused (or changed nothing): another one is tried from the parent
            if here in seen:
                continue
            seen.add(here)
            question = replies[-1] if replies else None
            answers = numeric_answers(question) if question is not None else []
            if not answers:
                self.stuck.append(f"{here[0]}.{here[1]}: no numeric answer to {question!r}")
                continue
            moved = False
            for answer in answers:
                _, _, after = self.replay((*inputs, answer))
                if after[-1] != here or here[0] == main:
                    moved = True
                    todo.append((*inputs, answer))
            if not moved:
                self.stuck.append(f"{here[0]}.{here[1]}: refuses every numeric answer {answers}")
        return seen


def test_every_flow_can_be_finished_with_numbers_only(config: Config, sqlite: Database) -> None:
    bot = Bot(config, sqlite)
    flows = bot.catalog.snapshot.flows.flows
    menu_flows = {  # a flow that asks nothing (my_requests) is over within the turn that starts it
        name
        for name, flow in flows.items()
        if not flow.part and name != config.main_flow and any(step.waits for step in flow.states.values())
    }
    finished: set[str] = set()
    for verified in (False, True):
        explorer = Explorer(bot, sqlite, verified)
        explorer.run(config.main_flow)
        assert explorer.stuck == [], explorer.stuck
        assert explorer.paths < MAX_PATHS, "the exploration did not end; raise MAX_PATHS if the flows grew"
        finished |= explorer.finished
    assert menu_flows - finished == set(), "flows no numbers-only resident can finish"
