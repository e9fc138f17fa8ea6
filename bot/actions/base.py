"""What an action receives and returns, and how the registry describes it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection

from bot.config import Config
from bot.flows import OptionSpec

__all__ = ["ActionContext", "ActionResult", "ActionSpec"]


@dataclass(frozen=True, slots=True)
class ActionContext:
    """Everything an action may use: the open transaction and the conversation's facts.

    ``answers`` are the saved values (``category`` is the option key,
    ``location`` a ``{"latitude", "longitude", "address"}`` mapping...).
    ``flow`` is the name of the flow the action runs in.
    ``now`` is the step's clock (tests pass their own); ``messages`` the
    bot's wording (flows/messages.yaml), for actions that word dates.
    """

    connection: Connection
    config: Config
    channel: str
    chat_id: str
    conversation_id: int
    resident_id: int
    language: str
    answers: Mapping[str, Any]
    flow: str = ""
    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    messages: Mapping[str, Mapping[str, str]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ActionResult:
    """What an action gives back.

    ``values`` are saved as answers (raw values); ``shown`` as their display
    text for templates (defaults to ``str(value)``); ``branch`` picks a
    ``next`` mapping entry. ``lists`` are option lists for a later
    ``input: choice`` with ``options_from: <name>`` (free days, open slots...).
    """

    values: Mapping[str, Any] = field(default_factory=dict)
    shown: Mapping[str, str] = field(default_factory=dict)
    branch: str | None = None
    lists: Mapping[str, tuple[OptionSpec, ...]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ActionSpec:
    """A registry entry: the name flows use, the function, the names it provides,
    its branches and the option lists it fills (for ``options_from``)."""

    name: str
    run: Callable[[ActionContext], ActionResult]
    provides: tuple[str, ...] = ()
    branches: tuple[str, ...] = ()
    lists: tuple[str, ...] = ()
