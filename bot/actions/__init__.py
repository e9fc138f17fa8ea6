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

from bot.actions.base import ActionContext, ActionResult, ActionSpec
from bot.actions.handoffs import office_hours, request_handoff
from bot.actions.incidents import create_service_request
from bot.actions.requests import create_police_report, list_my_requests
from bot.actions.subscriptions import list_subscriptions, subscribe, unsubscribe

__all__ = ["ACTIONS", "ActionContext", "ActionResult", "ActionSpec"]

ACTIONS: Mapping[str, ActionSpec] = {
    spec.name: spec
    for spec in (
        ActionSpec("create_service_request", create_service_request, provides=("ticket", "department")),
        ActionSpec("list_my_requests", list_my_requests, provides=("requests",), branches=("some", "none")),
        ActionSpec("create_police_report", create_police_report, provides=("ticket",)),
        ActionSpec("subscribe", subscribe, branches=("added", "already")),
        ActionSpec("unsubscribe", unsubscribe, branches=("removed", "absent")),
        ActionSpec("list_subscriptions", list_subscriptions, provides=("subscriptions",), branches=("some", "none")),
        ActionSpec("request_handoff", request_handoff, provides=("to",), branches=("sent", "private", "already")),
        ActionSpec("office_hours", office_hours, provides=("hours",), branches=("known", "unknown")),
    )
}
