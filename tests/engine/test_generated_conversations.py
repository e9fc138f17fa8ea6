"""Generated conversations: whatever a resident sends, in whatever order, the bot answers and never fails.

Hypothesis drives a resident through the shipped flows with a mix of
option numbers, button presses (right and wrong keys), free text with emoji,
HTML and control characters, photos, locations, unsupported content and
global words. After every message the bot must have answered, no inbox row
may have failed, and no reply may show an internal error.
"""

from __future__ import annotations

import uuid

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from bot.config import Config
from bot.messages import Location, Photo
from models import InboxItem
from models.db import Database
from tests.support.driver import Bot

INBOX = InboxItem.__table__  # type: ignore[attr-defined]

free_text = st.one_of(
    st.text(max_size=120),
    st.sampled_from(
        [
            "<b>hola</b><script>alert(1)</script>",
            "🙂🙂🙂",
            "\x00\x07\x1b[2J",
            "x" * 3000,
            "{ticket} {town} {{",
            "25/12",
            "mañana a las 10",
            "Calle Real 3",
            "sí",
            "no",
        ]
    ),
)
action = st.one_of(
    st.integers(min_value=0, max_value=12).map(lambda n: {"text": str(n)}),
    free_text.map(lambda t: {"text": t}),
    st.sampled_from(["menú", "atrás", "cancelar", "ayuda", "idioma en", "persona", "emergencia"]).map(
        lambda t: {"text": t}
    ),
    st.sampled_from(["report", "yes", "no", "skip", "streetlight", "nope", "1"]).map(lambda c: {"choice": c}),
    st.just({"photos": (Photo("AgAD-file-id", "image/jpeg"),)}),
    st.tuples(st.floats(-90, 90), st.floats(-180, 180)).map(lambda p: {"location": Location(*p)}),
    st.sampled_from(["sticker", "voice", "video"]).map(lambda u: {"unsupported": u}),
)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(messages=st.lists(action, min_size=1, max_size=14), language=st.sampled_from(["es", "en"]))
def test_any_sequence_of_messages_gets_answers_and_never_an_error(
    config: Config, sqlite: Database, messages: list[dict[str, object]], language: str
) -> None:
    chat = Bot(config, sqlite).chat(f"r-{uuid.uuid4().hex[:8]}", language=language)
    chat.send()
    for message in messages:
        replies = chat.send(**message)  # type: ignore[arg-type]
        assert replies, f"no answer to {message!r}"
        for reply in replies:
            assert "Traceback" not in reply.text and "Error" not in reply.text, reply.text
    with sqlite.reader.connect() as connection:
        failed = connection.execute(
            select(INBOX.c.id, INBOX.c.error).where(INBOX.c.chat_id == chat.chat_id, INBOX.c.status != "done")
        ).all()
    assert failed == []
