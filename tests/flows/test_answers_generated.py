"""Generated answers for every input kind: read_answer never raises, and every refusal has a hint the bot can say.

Property-based (hypothesis): arbitrary text including emoji, HTML, control
characters, huge strings, digits and date-like and time-like strings, with
and without a photo, a location or a button press.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.answers import Accepted, Rejected, options_for, read_answer
from bot.flows import OptionSpec, Step, Text, load_messages
from bot.messages import InboundMessage, Location, Photo

TODAY = date(2025, 3, 12)
MESSAGES: dict[str, Text] = dict(
    load_messages(Path(__file__).resolve().parents[2] / "flows" / "messages.yaml", ("es", "en"))
)
SOURCES = {
    "categories": (
        OptionSpec("streetlight", {"es": "Alumbrado público", "en": "Street lighting"}),
        OptionSpec("cleaning", {"es": "Limpieza", "en": "Cleaning"}),
    )
}
KINDS = ("choice", "yes_no", "text", "number", "date", "time", "photo", "location", "none")

texts = st.one_of(
    st.text(max_size=300),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=50),
    st.sampled_from(
        [
            "<script>alert(1)</script>",
            "\x00\x01\x1b[31m",
            "🙂👍🏽🇪🇸",
            "1" * 5000,
            "-1",
            "1e309",
            "31/02/2026",
            "29 de febrero",
            "25:61",
            "a las 99 de la noche",
            "https://www.openstreetmap.org/#map=19/999/999",
            "geo:91,181",
            "  ",
            "\u202e\u200b",
        ]
    ),
    st.integers().map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.from_regex(r"[0-9]{1,2}[/.-][0-9]{1,2}([/.-][0-9]{2,4})?", fullmatch=True),
    st.from_regex(r"[0-9]{1,2}:[0-9]{1,2}", fullmatch=True),
)


def _step(kind: str, optional: bool) -> Step:
    return Step(
        name="s",
        line=1,
        ask={"es": "?", "en": "?"},
        input=kind,
        optional=optional,
        options_from="categories" if kind == "choice" else None,
        min_length=3 if kind == "text" else None,
        max_length=500 if kind == "text" else None,
    )


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    kind=st.sampled_from(KINDS),
    optional=st.booleans(),
    language=st.sampled_from(["es", "en"]),
    text=st.one_of(st.none(), texts),
    choice=st.one_of(st.none(), st.sampled_from(["streetlight", "yes", "no", "skip", "nope", ""])),
    photo=st.booleans(),
    location=st.one_of(
        st.none(),
        st.tuples(st.floats(-90, 90), st.floats(-180, 180)).map(lambda pair: Location(*pair)),
    ),
)
def test_every_answer_is_read_or_refused_with_a_hint(
    kind: str,
    optional: bool,
    language: str,
    text: str | None,
    choice: str | None,
    photo: bool,
    location: Location | None,
) -> None:
    step = _step(kind, optional)
    message = InboundMessage(
        "test",
        "1",
        "u",
        "c",
        datetime(2025, 3, 12, tzinfo=UTC),
        text=text,
        choice=choice,
        photos=(Photo("media:1", "image/png"),) if photo else (),
        location=location,
    )
    options = options_for(step, language, SOURCES, MESSAGES)
    result = read_answer(step, options, message, language, TODAY)
    assert isinstance(result, Accepted | Rejected)
    if isinstance(result, Rejected):
        assert result.hint in MESSAGES, f"the refusal's hint {result.hint!r} is not in messages.yaml"
    else:
        assert isinstance(result.display, str)
        if kind == "choice" and result.value is not None:
            assert result.value in {o.key for o in options}
        if kind == "number" and result.value is not None:
            assert isinstance(result.value, int | float)
