"""Plaza's tables (sqlmodel) and database setup. Queries live beside the code that owns them."""

from __future__ import annotations

from sqlmodel import SQLModel

from models.apikeys import ApiKey
from models.appointments import Appointment
from models.broadcasts import BROADCAST_STATUSES, Broadcast
from models.conversations import Conversation, FlowVersion
from models.followers import RequestFollower, RequestUpdate
from models.handoffs import HANDOFF_STATUSES, HandoffRequest
from models.inbox import InboxItem
from models.leases import ConversationLease
from models.media import MediaItem
from models.officials import OFFICIAL_ROLES, AuditEntry, ConversationNote, Official, OfficialIdentity
from models.outbox import PRIORITY_BROADCAST, PRIORITY_REPLY, OutboxItem
from models.privacy import ExportToken
from models.requests import ServiceRequest
from models.residents import ChannelIdentity, Resident
from models.sessions import LoginAttempt, OfficialSession
from models.subscriptions import Subscription
from models.verification import VerificationCode, VerificationFailure

__all__ = [
    "BROADCAST_STATUSES",
    "HANDOFF_STATUSES",
    "OFFICIAL_ROLES",
    "PRIORITY_BROADCAST",
    "PRIORITY_REPLY",
    "ApiKey",
    "Appointment",
    "AuditEntry",
    "Broadcast",
    "ChannelIdentity",
    "Conversation",
    "ConversationLease",
    "ConversationNote",
    "ExportToken",
    "FlowVersion",
    "HandoffRequest",
    "InboxItem",
    "LoginAttempt",
    "MediaItem",
    "Official",
    "OfficialIdentity",
    "OfficialSession",
    "OutboxItem",
    "RequestFollower",
    "RequestUpdate",
    "Resident",
    "ServiceRequest",
    "Subscription",
    "VerificationCode",
    "VerificationFailure",
    "metadata",
]

metadata = SQLModel.metadata
