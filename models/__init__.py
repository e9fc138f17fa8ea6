"""Plaza's tables (sqlmodel) and database setup. Queries live beside the code that owns them."""

from __future__ import annotations

from sqlmodel import SQLModel

from models.conversations import Conversation, FlowVersion
from models.followers import RequestFollower, RequestUpdate
from models.inbox import InboxItem
from models.media import MediaItem
from models.outbox import PRIORITY_BROADCAST, PRIORITY_REPLY, OutboxItem
from models.requests import ServiceRequest
from models.residents import ChannelIdentity, Resident
from models.subscriptions import Subscription

__all__ = [
    "PRIORITY_BROADCAST",
    "PRIORITY_REPLY",
    "ChannelIdentity",
    "Conversation",
    "FlowVersion",
    "InboxItem",
    "MediaItem",
    "OutboxItem",
    "RequestFollower",
    "RequestUpdate",
    "Resident",
    "ServiceRequest",
    "Subscription",
    "metadata",
]

metadata = SQLModel.metadata
