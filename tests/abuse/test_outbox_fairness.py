"""The dispatcher never lets one chat's backlog of replies hide another chat's reply.

One chat has far more pending replies than a dispatcher batch, paced at one
a second per chat; a reply to another chat, queued after all of them, must go
out in the first round. Checked by the order the channel received them.
"""

from __future__ import annotations

from datetime import UTC, datetime

from adapters.base import Dispatch, Limits
from bot.messages import OutboundMessage, SentReceipt
from bot.outbox import Dispatcher, Reply, enqueue
from models.db import Database


class RecordingChannel:
    """Plaza's Channel protocol, recording the chat of every send in order."""

    def __init__(self) -> None:
        self.sent_to: list[str] = []

    @property
    def name(self) -> str:
        return "recording"

    @property
    def limits(self) -> Limits:
        return Limits(max_text=1000, max_options=10, per_chat_per_s=1.0, overall_per_s=1000.0)

    async def start(self, dispatch: Dispatch) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def send(self, message: OutboundMessage) -> SentReceipt:
        self.sent_to.append(message.chat_id)
        return SentReceipt(platform_message_ids=(str(message.id),), sent_at=datetime.now(UTC))


async def test_a_reply_queued_behind_a_flood_goes_out_in_the_first_round(database: Database) -> None:
    channel = RecordingChannel()
    with database.writer.begin() as connection:
        enqueue(connection, channel="recording", chat_id="flooder", replies=[Reply(text=f"{n}") for n in range(500)])
        enqueue(connection, channel="recording", chat_id="neighbour", replies=[Reply(text="hola")])
    dispatcher = Dispatcher(database.writer, channel, batch=50)
    await dispatcher.dispatch_once()
    assert "neighbour" in channel.sent_to, channel.sent_to
    assert channel.sent_to.index("neighbour") <= 1, "only the flooder's one paced reply may go before it"
