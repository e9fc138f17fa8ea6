"""What an action receives and returns, and how the registry describes it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection

from bot.config import Config

__all__ = ["ActionContext", "ActionResult", "ActionSpec"]


@dataclass(frozen=True, slots=True)
class ActionContext:
    """Everything an action may use: the open transaction and the conversation's facts.

    ``answers`` are the saved values (``category`` is the option key,
    ``location`` a ``{"latitude", "longitude", "address"}`` mapping...).
    """

    connection: Connection
    config: Config
    channel: str
    chat_id: str
    conversation_id: int
    resident_id: int
    language: str
    answers: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class ActionResult:
    """What an action gives back.

    ``values`` are saved as answers (raw values); ``shown`` as their display
    text for templates (defaults to ``str(value)``); ``branch`` picks a
    ``next`` mapping entry.
    """

    values: Mapping[str, Any] = field(default_factory=dict)
    shown: Mapping[str, str] = field(default_factory=dict)
    branch: str | None = None


@dataclass(frozen=True, slots=True)
class ActionSpec:
    """A registry entry: the name flows use, the function, and the names it provides."""

    name: str
    run: Callable[[ActionContext], ActionResult]
    provides: tuple[str, ...] = ()
    branches: tuple[str, ...] = ()
