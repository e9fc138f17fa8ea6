"""The council's decision on a proposal for the plenary agenda, and telling the resident who made it.

:func:`set_proposal_decision` records ``accepted``, ``rejected`` or
``scheduled`` (with the plenary's date) as the proposal's status and, in the
same transaction, enqueues one message to the proposer on the chat they
proposed from, in the language they now use, worded by ``flows/messages.yaml``
(``proposal_accepted``, ``proposal_rejected``, ``proposal_scheduled``).
Recording the same decision twice changes nothing and tells nobody again.
``plaza proposals decide`` (:mod:`bot.cli`) calls it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import Connection, select, update

from bot.config import Config
from bot.errors import PlazaError
from bot.flows import Text
from bot.notices import Wording
from bot.outbox import Reply, enqueue
from bot.request_status import UnknownRequest, request_id_for
from models import Conversation, ServiceRequest

__all__ = ["DECISIONS", "Decision", "DecisionError", "find_request", "set_proposal_decision"]

REQUESTS = ServiceRequest.__table__  # type: ignore[attr-defined]
CONVERSATIONS = Conversation.__table__  # type: ignore[attr-defined]

DECISIONS: tuple[str, ...] = ("accepted", "rejected", "scheduled")
"""What the council can decide; each is also the proposal's new status."""
PLENARY_DATE = "plenary_date"
"""Where a scheduled proposal's plenary date is kept, in the request's ``details``."""


class DecisionError(PlazaError):
    """The decision cannot be recorded: no such proposal, an unknown decision, a missing date.

    ``plaza proposals decide`` prints it and exits 1; nothing was changed.
    """


@dataclass(frozen=True, slots=True)
class Decision:
    """What :func:`set_proposal_decision` did: the proposal's ticket, its status, and whether the proposer was told."""

    ticket: str
    status: str
    notified: bool


def find_request(connection: Connection, ticket: str) -> int | None:
    """The id of the service request with this ticket (``jun-2026-000007`` is found too), or None."""
    try:
        return request_id_for(connection, ticket)
    except UnknownRequest:
        return None


def set_proposal_decision(
    connection: Connection,
    config: Config,
    request_id: int,
    decision: str,
    *,
    date: dt.date | None = None,
    now: dt.datetime,
    messages: Mapping[str, Text] | None = None,
) -> Decision:
    """Record the council's ``decision`` on proposal ``request_id`` and tell the proposer (caller's transaction).

    ``decision`` is one of :data:`DECISIONS`; ``scheduled`` needs ``date``
    (the plenary's), the others take none. ``now`` (aware) stamps the
    change. ``messages`` is the wording of ``flows/messages.yaml`` if the
    caller has it loaded (otherwise it is read from ``config.flows_dir``).
    Raises :class:`DecisionError` when the request is not a proposal or the
    arguments do not fit; then nothing is written.
    """
    if decision not in DECISIONS:
        raise DecisionError(f"unknown decision {decision!r}: use one of {', '.join(DECISIONS)}")
    if (decision == "scheduled") != (date is not None):
        raise DecisionError(
            "a scheduled proposal needs the plenary's date" if date is None else "a date only goes with `scheduled`"
        )
    row = connection.execute(
        select(
            REQUESTS.c.ticket,
            REQUESTS.c.kind,
            REQUESTS.c.title,
            REQUESTS.c.status,
            REQUESTS.c.details,
            REQUESTS.c.language,
            REQUESTS.c.channel,
            REQUESTS.c.conversation_id,
            CONVERSATIONS.c.chat_id,
            CONVERSATIONS.c.language.label("now_language"),
        )
        .outerjoin(CONVERSATIONS, CONVERSATIONS.c.id == REQUESTS.c.conversation_id)
        .where(REQUESTS.c.id == request_id)
        .with_for_update(of=REQUESTS)
    ).one_or_none()
    if row is None or row.kind != "proposal":
        raise DecisionError(f"request {request_id} is not a proposal for the plenary")
    details = dict(row.details or {})
    plenary = date.isoformat() if date is not None else None
    if row.status == decision and details.get(PLENARY_DATE) == plenary:
        return Decision(ticket=row.ticket, status=decision, notified=False)
    details.pop(PLENARY_DATE, None)
    if plenary is not None:
        details[PLENARY_DATE] = plenary
    connection.execute(
        update(REQUESTS).where(REQUESTS.c.id == request_id).values(status=decision, details=details, updated_at=now)
    )
    if row.chat_id is None:
        return Decision(ticket=row.ticket, status=decision, notified=False)
    language = row.now_language if row.now_language in config.languages else row.language
    text = Wording(config, messages).text(
        f"proposal_{decision}",
        language,
        ticket=row.ticket,
        title=row.title or "",
        date=date.strftime("%d/%m/%Y") if date else "",
    )
    enqueue(
        connection,
        channel=row.channel,
        chat_id=row.chat_id,
        replies=[Reply(text=text)],
        conversation_id=row.conversation_id,
    )
    return Decision(ticket=row.ticket, status=decision, notified=True)
