"""The named actions a flow step may call (``action: create_service_request``).

Flows never name Python paths: they name an entry of :data:`ACTIONS`. An
action runs inside the engine's transaction, after the state machine moved and
before the replies are written; what it returns is merged into the
conversation's saved answers (so ``say`` can use ``{ticket}``), and its
optional ``branch`` picks the ``next`` of a step that maps outcomes to states.
An action must not do network I/O: it writes rows, and the outbox does the
sending.
"""

from __future__ import annotations

from collections.abc import Mapping

from bot.actions.appointments import (
    book_appointment,
    cancel_appointment,
    find_free_days,
    find_free_times,
    list_my_appointments,
    move_appointment,
)
from bot.actions.base import ActionContext, ActionResult, ActionSpec
from bot.actions.handoffs import office_hours, request_handoff, waiting_time
from bot.actions.incidents import create_service_request
from bot.actions.nearby import find_nearby_request, follow_request
from bot.actions.procedures import create_plenary_proposal, create_procedure_request
from bot.actions.requests import create_police_report, list_my_requests
from bot.actions.subscriptions import list_subscriptions, subscribe, unsubscribe

__all__ = ["ACTIONS", "ActionContext", "ActionResult", "ActionSpec"]

ACTIONS: Mapping[str, ActionSpec] = {
    spec.name: spec
    for spec in (
        ActionSpec("create_service_request", create_service_request, provides=("ticket", "department")),
        ActionSpec("list_my_requests", list_my_requests, provides=("requests",), branches=("some", "none")),
        ActionSpec("create_police_report", create_police_report, provides=("ticket",)),
        ActionSpec("create_procedure_request", create_procedure_request, provides=("ticket", "department")),
        ActionSpec("create_plenary_proposal", create_plenary_proposal, provides=("ticket", "department")),
        ActionSpec(
            "find_nearby_request",
            find_nearby_request,
            provides=("nearby", "nearby_ticket", "nearby_request"),
            branches=("found", "none"),
        ),
        ActionSpec("follow_request", follow_request, provides=("nearby_ticket",)),
        ActionSpec("subscribe", subscribe, branches=("added", "already")),
        ActionSpec("unsubscribe", unsubscribe, branches=("removed", "absent")),
        ActionSpec("list_subscriptions", list_subscriptions, provides=("subscriptions",), branches=("some", "none")),
        ActionSpec("find_free_days", find_free_days, branches=("some", "none"), lists=("days",)),
        ActionSpec("find_free_times", find_free_times, branches=("some", "none"), lists=("times",)),
        ActionSpec("book_appointment", book_appointment, provides=("reference",), branches=("booked", "taken")),
        ActionSpec(
            "list_my_appointments",
            list_my_appointments,
            provides=("appointments",),
            branches=("some", "none"),
            lists=("my_appointments",),
        ),
        ActionSpec("cancel_appointment", cancel_appointment, branches=("cancelled", "gone")),
        ActionSpec("move_appointment", move_appointment, provides=("reference",), branches=("moved", "taken", "gone")),
        ActionSpec("request_handoff", request_handoff, provides=("to",), branches=("sent", "private", "already")),
        ActionSpec("office_hours", office_hours, provides=("hours",), branches=("known", "unknown")),
        ActionSpec("waiting_time", waiting_time, provides=("ahead", "wait"), branches=("first", "known", "unknown")),
    )
}
