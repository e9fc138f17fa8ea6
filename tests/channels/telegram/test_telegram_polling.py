"""Telegram in long-polling mode with a real runtime: the offset moves only past stored updates."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

from adapters.telegram import TelegramChannel
from adapters.testing.telegram_server import FakeTelegram
from bot.config import Config
from bot.messages import InboundMessage
from bot.runtime import Plaza
from models.db import Database
from tests.channels.telegram.conftest import MENU, Town, texts
from tests.support.server import free_port


def polling_channel(fake: FakeTelegram) -> TelegramChannel:
    return TelegramChannel(fake.token, api_base_url=fake.base_url, mode="polling", poll_timeout=1, retry_pause=0.1)


async def until(condition: Callable[[], Any], timeout: float = 20.0) -> Any:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not (value := await asyncio.to_thread(condition)):
        assert loop.time() < deadline, f"condition not met within {timeout} s"
        await asyncio.sleep(0.05)
    return value


def town_of(fake: FakeTelegram, database: Database, channel: TelegramChannel) -> Town:
    return Town(fake, database, channel, base_url="")


async def test_text_in_menu_out_and_a_button_through_polling(
    config: Config, sqlite: Database, fake: FakeTelegram
) -> None:
    channel = polling_channel(fake)
    ana = fake.user(201, "Ana")
    async with Plaza(config, [channel], database=sqlite, poll_interval=0.05, reminder_interval=None):
        first = fake.push_text(ana, "hola")
        menu = await until(lambda: next((s for s in fake.sent_to(ana.id) if MENU in (s.text or "")), None))
        assert "report" in {button["callback_data"] for button in menu.buttons}
        seen = len(fake.sent_to(ana.id))
        pressed = fake.push_callback(ana, "report", menu)
        await until(lambda: any("¿Qué ha pasado?" in (s.text or "") for s in fake.sent_to(ana.id)[seen:]))
        await until(lambda: fake.answered)
        await until(lambda: not fake.pending_updates())
    assert channel.offset == pressed + 1 and pressed > first
    assert [row.platform_message_id for row in town_of(fake, sqlite, channel).inbox(ana.id)] == [
        str(first),
        str(pressed),
    ]


async def test_stopped_before_the_offset_moved_the_update_is_fetched_again_and_answered_once(
    config: Config, sqlite: Database, fake: FakeTelegram
) -> None:
    """As if the process died after the inbox committed the update and before getUpdates confirmed it."""
    channel = polling_channel(fake)
    town = town_of(fake, sqlite, channel)
    ana = fake.user(202, "Ana")
    plaza = Plaza(config, [channel], database=sqlite, poll_interval=0.05, reminder_interval=None)
    stored = asyncio.Event()

    async def store_then_die(messages: Sequence[InboundMessage]) -> None:
        await plaza.dispatch(messages)
        stored.set()
        await asyncio.Event().wait()  # never returns: the "crash" comes first

    update_id = fake.push_text(ana, "hola")
    await channel.start(store_then_die)
    async with plaza:  # the channel is already started: Plaza's start leaves it be
        await asyncio.wait_for(stored.wait(), 20)
        await channel.stop()
        assert fake.pending_updates() == [update_id]  # not confirmed to Telegram
        assert channel.offset is None
        await plaza.settle("telegram", str(ana.id), timeout=20)
        answered = len(fake.sent_to(ana.id))
        assert MENU in texts(fake, ana.id)

        await channel.start(plaza.dispatch)  # the restart: Telegram hands the update out again
        await until(lambda: not fake.pending_updates())
        assert channel.offset == update_id + 1
        assert await plaza.settle("telegram", str(ana.id), timeout=20)
    rows = town.inbox(ana.id)
    assert [row.platform_message_id for row in rows] == [str(update_id)]
    assert len(fake.sent_to(ana.id)) == answered == len(town.outbox(ana.id))


async def test_stopped_before_the_store_finished_the_update_is_stored_after_restart(
    config: Config, sqlite: Database, fake: FakeTelegram
) -> None:
    channel = polling_channel(fake)
    town = town_of(fake, sqlite, channel)
    ana = fake.user(203, "Ana")
    plaza = Plaza(config, [channel], database=sqlite, poll_interval=0.05, reminder_interval=None)
    called = asyncio.Event()

    async def hang(messages: Sequence[InboundMessage]) -> None:
        called.set()
        await asyncio.Event().wait()

    update_id = fake.push_text(ana, "hola")
    await channel.start(hang)
    await asyncio.wait_for(called.wait(), 20)
    await channel.stop()
    assert town.inbox(ana.id) == [] and fake.pending_updates() == [update_id]
    async with plaza:
        await until(lambda: not fake.pending_updates())
        await until(lambda: MENU in texts(fake, ana.id))
    assert [row.platform_message_id for row in town.inbox(ana.id)] == [str(update_id)]


async def test_polling_deletes_a_webhook_left_behind(config: Config, sqlite: Database, fake: FakeTelegram) -> None:
    webhook = TelegramChannel(
        fake.token,
        api_base_url=fake.base_url,
        mode="webhook",
        webhook_secret="x",
        webhook_url=f"http://127.0.0.1:{free_port()}/webhooks/telegram",  # nobody listens there
    )
    await webhook.start(_never)
    await until(lambda: fake.calls_of("setWebhook"))
    await webhook.stop()
    channel = polling_channel(fake)
    ana = fake.user(204, "Ana")
    fake.push_text(ana, "hola")
    async with Plaza(config, [channel], database=sqlite, poll_interval=0.05, reminder_interval=None):
        await until(lambda: MENU in texts(fake, ana.id))
    assert fake.calls_of("deleteWebhook")


async def _never(messages: Sequence[InboundMessage]) -> None:
    raise AssertionError("a webhook channel does not dispatch by itself")
