"""News-and-alerts actions: a resident subscribes to a topic, unsubscribes, or lists what they follow."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import bindparam, delete, select

from bot.actions.base import ActionContext, ActionResult
from bot.config import Config
from models import Subscription
from models.rawsql import RawStatement, db_time, raw_insert

__all__ = ["list_subscriptions", "subscribe", "unsubscribe"]

SUBSCRIPTIONS = Subscription.__table__  # type: ignore[attr-defined]

_FIND = RawStatement(
    select(SUBSCRIPTIONS.c.id).where(
        SUBSCRIPTIONS.c.resident_id == bindparam("resident_id"),
        SUBSCRIPTIONS.c.channel == bindparam("channel"),
        SUBSCRIPTIONS.c.topic == bindparam("topic"),
    )
)
_NEW = raw_insert(SUBSCRIPTIONS, ("resident_id", "channel", "chat_id", "topic", "created_at"))
_REMOVE = RawStatement(
    delete(SUBSCRIPTIONS).where(
        SUBSCRIPTIONS.c.resident_id == bindparam("resident_id"),
        SUBSCRIPTIONS.c.channel == bindparam("channel"),
        SUBSCRIPTIONS.c.topic == bindparam("topic"),
    )
)
_MINE = RawStatement(
    select(SUBSCRIPTIONS.c.topic)
    .where(
        SUBSCRIPTIONS.c.resident_id == bindparam("resident_id"),
        SUBSCRIPTIONS.c.channel == bindparam("channel"),
    )
    .order_by(SUBSCRIPTIONS.c.id)
)


def _key(context: ActionContext) -> dict[str, object]:
    return {
        "resident_id": context.resident_id,
        "channel": context.channel,
        "topic": str(context.answers.get("topic") or ""),
    }


def _label(config: Config, topic: str, language: str) -> str:
    """The topic's label in ``language``; a topic no longer in config.yaml shows its key."""
    found = config.topics.get(topic)
    if found is None:
        return topic
    return str(found.label.get(language) or next(iter(found.label.values())))


def subscribe(context: ActionContext) -> ActionResult:
    """Follow the answer ``topic`` on this channel. Branch ``added``, or ``already`` if followed before."""
    key = _key(context)
    if _FIND.run(context.connection, key).fetchone() is not None:
        return ActionResult(branch="already")
    _NEW.run(
        context.connection,
        {**key, "chat_id": context.chat_id, "created_at": db_time(context.connection, datetime.now(UTC))},
    )
    return ActionResult(branch="added")


def unsubscribe(context: ActionContext) -> ActionResult:
    """Stop following the answer ``topic`` on this channel. Branch ``removed``, or ``absent`` if not followed."""
    removed = _REMOVE.run(context.connection, _key(context)).rowcount
    return ActionResult(branch="removed" if removed else "absent")


def list_subscriptions(context: ActionContext) -> ActionResult:
    """The topics the resident follows on this channel.

    Provides ``subscriptions``: one line per topic label. Branch ``some`` or ``none``.
    """
    rows = _MINE.run(context.connection, {"resident_id": context.resident_id, "channel": context.channel}).fetchall()
    lines = [f"• {_label(context.config, topic, context.language)}" for (topic,) in rows]
    return ActionResult(values={"subscriptions": "\n".join(lines)}, branch="some" if lines else "none")
