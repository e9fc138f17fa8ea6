"""A resident reports a broken streetlight through the chat; returns the ticket."""

from __future__ import annotations

import re

from tests.support.driver import Chat

TICKET = re.compile(r"JUN-\d{4}-\d{6}")


def report_streetlight(chat: Chat, description: str, address: str = "Calle Real 5") -> str:
    """From the menu: a street lighting report with ``description`` at ``address``."""
    for text in ("1", "1", description, "omitir", address):
        chat.say(text)
    found = TICKET.search(chat.say("sí"))
    assert found is not None, "the report was not confirmed"
    return found.group(0)
