"""The resident's account words in a conversation: verify, unlink, "my data", erase.

:func:`command` answers the global words of :data:`ACCOUNT_COMMANDS` for a
:class:`~bot.turn.Turn`; :func:`answer` reads the reply to a question of
ours (the code after a bare "verificar", yes/no before unlinking or erasing),
kept in ``conversation.data["pending"]``. What the resident reads is in
``flows/messages.yaml``; the work is :mod:`bot.verification` and
:mod:`bot.privacy`, in the turn's transaction.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from bot import identity, privacy, verification
from bot.access import SYSTEM
from bot.answers import yes_or_no
from bot.appointments import town_zone
from bot.messages import InboundMessage, Option
from bot.words import Command

if TYPE_CHECKING:
    from bot.turn import Turn

__all__ = ["ACCOUNT_COMMANDS", "PENDING", "answer", "command", "export_url"]

ACCOUNT_COMMANDS = ("verify", "unlink", "my_data", "erase")
PENDING = ("verify_code", "confirm_unlink", "confirm_erase")


def export_url(turn: Turn, token: str) -> str:
    """The download link for an export token (config.yaml ``privacy.public_url``, else the server's address)."""
    config = turn.engine.config
    base = config.privacy.public_url or f"http://{config.host}:{config.port}"
    return f"{base}/me/export/{token}"


def command(turn: Turn, said: Command, message: InboundMessage) -> None:
    """Answer one of :data:`ACCOUNT_COMMANDS`."""
    data = turn.conversation.data
    if said.name == "verify":
        if said.argument is None:
            data["pending"] = "verify_code"
            turn.say(turn.message("verify_ask"))
            turn.flush()
            return
        _redeem(turn, said.argument, message)
    elif said.name == "unlink":
        if not turn.conversation.verified:
            turn.say(turn.message("unlink_not_linked"))
            turn.resume()
            return
        data["pending"] = "confirm_unlink"
        _ask_yes_no(turn, "unlink_confirm")
    elif _own_resident(turn, message) is None:
        # someone else in a resident's group chat: their data is not this conversation's
        turn.say(turn.message("privacy_not_yours"))
        turn.resume()
    elif said.name == "my_data":
        connection = turn.connection
        counts = privacy.summary(connection, turn.conversation.resident_id)
        token = privacy.export_link(connection, turn.conversation.resident_id, datetime.now(UTC))
        turn.say(turn.message("my_data", link=export_url(turn, token), **counts))
        turn.resume()
    elif said.name == "erase":
        data["pending"] = "confirm_erase"
        _ask_yes_no(turn, "erase_confirm")


def answer(turn: Turn, message: InboundMessage) -> bool:
    """Read the answer to our pending question; False when the message is something else (handle it normally)."""
    data = turn.conversation.data
    pending = data.get("pending")
    if pending == "verify_code":
        data["pending"] = None
        if message.text is None or verification.normalize_code(message.text) is None:
            return False  # not a code: an ordinary answer (or another word)
        _redeem(turn, message.text, message)
        return True
    decided = yes_or_no(_yes_no_options(turn), message)
    if decided is None:
        turn.say(turn.message("hint_yes_no"))
        _ask_yes_no(turn, "unlink_confirm" if pending == "confirm_unlink" else "erase_confirm")
        return True
    data["pending"] = None
    if decided == "no":
        turn.say(turn.message("account_unchanged"))
        turn.resume()
        return True
    now = datetime.now(UTC)
    conversation = turn.conversation
    if pending == "confirm_unlink":
        verification.unlink_account(
            turn.connection, SYSTEM, channel=conversation.channel, platform_user_id=message.sender_id, now=now
        )
        _refresh(turn, message)
        turn.say(turn.message("unlinked"))
        turn.resume()
        return True
    if _own_resident(turn, message) is None:
        turn.say(turn.message("privacy_not_yours"))
        turn.resume()
        return True
    privacy.erase(turn.connection, conversation.resident_id, now)
    conversation.verified = False
    turn.say(turn.message("erased"))
    turn.restart()
    return True


def _redeem(turn: Turn, text: str, message: InboundMessage) -> None:
    conversation = turn.conversation
    keys = turn.engine.secrets.for_connection(turn.connection)
    outcome = verification.redeem(
        turn.connection,
        keys,
        channel=conversation.channel,
        platform_user_id=message.sender_id,
        text=text,
        now=datetime.now(UTC),
        conversation_id=conversation.id,
    )
    if outcome.status in ("linked", "already"):
        _refresh(turn, message)
        turn.say(turn.message("verify_linked" if outcome.status == "linked" else "verify_already"))
    elif outcome.status == "locked":
        assert outcome.retry_at is not None
        local = outcome.retry_at.astimezone(town_zone(turn.engine.config))
        turn.say(turn.message("verify_locked", time=f"{local:%H:%M}"))
    else:
        turn.say(turn.message(f"verify_{outcome.status}"))  # verify_malformed, verify_failed, verify_taken
    turn.resume()


def _own_resident(turn: Turn, message: InboundMessage) -> int | None:
    """The conversation's resident, if the sender is them (their own account), else None."""
    found = identity.account(turn.connection, turn.conversation.channel, message.sender_id)
    if found is None or found.resident_id != turn.conversation.resident_id:
        return None
    return found.resident_id


def _refresh(turn: Turn, message: InboundMessage) -> None:
    """Read the conversation's resident and the sender's verification again (a link or unlink just moved them)."""
    conversation = turn.conversation
    conversation.resident_id = identity.conversation_owner(turn.connection, conversation.id)
    found = identity.account(turn.connection, conversation.channel, message.sender_id)
    conversation.verified = found is not None and found.verified and found.resident_id == conversation.resident_id


def _yes_no_options(turn: Turn) -> tuple[Option, ...]:
    return (Option("yes", turn.message("yes_label")), Option("no", turn.message("no_label")))


def _ask_yes_no(turn: Turn, key: str) -> None:
    turn.flush(_yes_no_options(turn), "yes_no", turn.message(key))
