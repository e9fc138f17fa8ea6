"""News-and-alerts subscriptions: a resident follows a topic on the channel where they asked."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, UniqueConstraint
from sqlmodel import Field, SQLModel

from models.base import UTCDateTime, utcnow

__all__ = ["Subscription"]


class Subscription(SQLModel, table=True):
    """One topic (a key of config.yaml's ``topics``) followed by a resident on one channel and chat."""

    __tablename__ = "subscriptions"
    __table_args__ = (UniqueConstraint("resident_id", "channel", "topic", name="uq_subscription_resident_topic"),)

    id: int | None = Field(default=None, primary_key=True)
    resident_id: int = Field(foreign_key="residents.id", index=True)
    channel: str = Field(max_length=32)
    chat_id: str = Field(max_length=200)
    topic: str = Field(max_length=64, index=True)
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False, default=utcnow)
    )
