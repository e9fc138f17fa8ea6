"""Plaza's tables (sqlmodel) and database setup. Queries live beside the code that owns them."""

from __future__ import annotations

from sqlmodel import SQLModel

from models.appointments import Appointment
from models.conversations import Conversation, FlowVersion
from models.followers import RequestFollower, RequestUpdate
from models.handoffs import HANDOFF_STATUSES, HandoffRequest
from models.inbox import InboxItem
from models.leases import ConversationLease
from models.media import MediaItem
from models.officials import OFFICIAL_ROLES, AuditEntry, ConversationNote, Official, OfficialIdentity
from models.outbox import PRIORITY_BROADCAST, PRIORITY_REPLY, OutboxItem
from models.requests import ServiceRequest
from models.residents import ChannelIdentity, Resident
from models.subscriptions import Subscription

__all__ = [
    "HANDOFF_STATUSES",
    "OFFICIAL_ROLES",
    "PRIORITY_BROADCAST",
    "PRIORITY_REPLY",
    "Appointment",
    "AuditEntry",
    "ChannelIdentity",
    "Conversation",
    "ConversationLease",
    "ConversationNote",
    "FlowVersion",
    "HandoffRequest",
    "InboxItem",
    "MediaItem",
    "Official",
    "OfficialIdentity",
    "OutboxItem",
    "RequestFollower",
    "RequestUpdate",
    "Resident",
    "ServiceRequest",
    "Subscription",
    "metadata",
]

metadata = SQLModel.metadata
