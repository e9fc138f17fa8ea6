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
from bot.actions.incidents import create_service_request
from bot.actions.nearby import find_nearby_request, follow_request
from bot.actions.requests import create_police_report, list_my_requests
from bot.actions.subscriptions import list_subscriptions, subscribe, unsubscribe

__all__ = ["ACTIONS", "ActionContext", "ActionResult", "ActionSpec"]

ACTIONS: Mapping[str, ActionSpec] = {
    spec.name: spec
    for spec in (
        ActionSpec("create_service_request", create_service_request, provides=("ticket", "department")),
        ActionSpec("list_my_requests", list_my_requests, provides=("requests",), branches=("some", "none")),
        ActionSpec("create_police_report", create_police_report, provides=("ticket",)),
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
    )
}
