"""bot.answers: reading a resident's answer for each input kind."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from bot.answers import Accepted, Rejected, options_for, read_answer
from bot.flows import OptionSpec, Step, Text, load_messages
from bot.messages import InboundMessage, Location, Option, Photo

TODAY = date(2025, 3, 12)  # a Wednesday
MESSAGES: dict[str, Text] = dict(
    load_messages(Path(__file__).resolve().parents[2] / "flows" / "messages.yaml", ("es", "en"))
)
CATEGORIES = (
    OptionSpec("streetlight", {"es": "Alumbrado público", "en": "Street lighting"}),
    OptionSpec("cleaning", {"es": "Limpieza", "en": "Cleaning"}),
    OptionSpec("water", {"es": "Agua", "en": "Water"}),
    OptionSpec("noise", {"es": "Ruido", "en": "Noise"}),
    OptionSpec("roads", {"es": "Vía pública", "en": "Roads and pavements"}),
)
SOURCES = {"categories": CATEGORIES}


def msg(
    text: str | None = None,
    *,
    choice: str | None = None,
    photos: tuple[Photo, ...] = (),
    location: Location | None = None,
) -> InboundMessage:
    return InboundMessage(
        "test",
        "1",
        "u",
        "c",
        datetime(2025, 3, 12, tzinfo=UTC),
        text=text,
        choice=choice,
        photos=photos,
        location=location,
    )


def step(kind: str, **kwargs: object) -> Step:
    return Step(name="s", line=1, ask={"es": "?", "en": "?"}, input=kind, **kwargs)  # type: ignore[arg-type]


def answer(the_step: Step, message: InboundMessage, language: str = "es") -> Accepted | Rejected:
    options = options_for(the_step, language, SOURCES, MESSAGES)
    return read_answer(the_step, options, message, language, TODAY)


CHOICE = step("choice", options_from="categories")


# -- options_for ---------------------------------------------------------------------------------------------------


def test_options_for_each_kind() -> None:
    assert options_for(CHOICE, "en", SOURCES, MESSAGES)[0] == Option("streetlight", "Street lighting")
    static = step("choice", options=(OptionSpec("on", {"es": "Encendido", "en": "On"}),))
    assert options_for(static, "es", SOURCES, MESSAGES) == (Option("on", "Encendido"),)
    assert options_for(step("yes_no"), "es", SOURCES, MESSAGES) == (Option("yes", "Sí"), Option("no", "No"))
    assert options_for(step("photo", optional=True), "en", SOURCES, MESSAGES) == (Option("skip", "Skip"),)
    assert options_for(step("photo"), "en", SOURCES, MESSAGES) == ()
    assert options_for(step("choice", options_from="nope"), "en", SOURCES, MESSAGES) == ()


# -- choice --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("said", "key"),
    [
        ("1", "streetlight"),
        (" 2 ", "cleaning"),
        ("2.", "cleaning"),
        ("nº 3", "water"),
        ("3)", "water"),
        ("limpieza", "cleaning"),
        ("LIMPIEZA", "cleaning"),
        ("via publica", "roads"),
        ("Vía Pública", "roads"),
        ("alumbrado publico", "streetlight"),
        ("Alumbrao público", "streetlight"),
        ("limpiesa", "cleaning"),
        ("noise", "noise"),
        ("ruido!", "noise"),
        ("alumbrado", "streetlight"),
    ],
)
def test_choice_accepts_number_label_key_and_near_miss(said: str, key: str) -> None:
    result = answer(CHOICE, msg(said))
    assert isinstance(result, Accepted), said
    assert (result.value, result.branch) == (key, key)


def test_choice_button_and_display() -> None:
    assert answer(CHOICE, msg(choice="water"), "en") == Accepted("water", "Water", "water")


@pytest.mark.parametrize("said", ["0", "6", "99", "", "   ", "xyz", "algo raro", "a"])
def test_choice_rejects(said: str) -> None:
    assert answer(CHOICE, msg(said)) == Rejected("hint_choice")


def test_choice_ambiguous_near_miss_is_rejected() -> None:
    two = step(
        "choice", options=(OptionSpec("a", {"es": "Casa", "en": "x"}), OptionSpec("b", {"es": "Cosa", "en": "y"}))
    )
    assert answer(two, msg("Cesa")) == Rejected("hint_choice")


def test_choice_option_key_on_stays_a_word() -> None:
    on_off = step(
        "choice",
        options=(OptionSpec("on", {"es": "Encendida", "en": "On"}), OptionSpec("off", {"es": "Apagada", "en": "Off"})),
    )
    assert answer(on_off, msg("apagada")) == Accepted("off", "Apagada", "off")
    assert answer(on_off, msg("on")) == Accepted("on", "Encendida", "on")


# -- yes_no --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "said", ["sí", "Si", "S", "vale", "yes", "Y", "ok", "De acuerdo", "claro", "1", "¡Sí!", "si, gracias"]
)
def test_yes(said: str) -> None:
    assert answer(step("yes_no"), msg(said)) == Accepted("yes", "Sí", "yes")


@pytest.mark.parametrize("said", ["no", "NO", "n", "nope", "2", "No, gracias"])
def test_no(said: str) -> None:
    assert answer(step("yes_no"), msg(said), "en") == Accepted("no", "No", "no")


def test_yes_no_button_and_rejection() -> None:
    assert answer(step("yes_no"), msg(choice="yes")) == Accepted("yes", "Sí", "yes")
    assert answer(step("yes_no"), msg("quizás")) == Rejected("hint_yes_no")


# -- text ----------------------------------------------------------------------------------------------------------


def test_text_rules() -> None:
    text = step("text", min_length=3, max_length=40)
    assert answer(text, msg("  Farola rota\n en la plaza \x00\x07 ")) == Accepted(
        "Farola rota\n en la plaza", "Farola rota\n en la plaza"
    )
    assert answer(text, msg("   ")) == Rejected("hint_text_empty")
    assert answer(text, msg(None, photos=(Photo("p1"),))) == Rejected("hint_not_text")
    assert answer(text, msg(None, location=Location(37.1, -3.6))) == Rejected("hint_not_text")
    assert answer(text, msg("ab")) == Rejected("hint_text_too_short", {"min": 3})
    assert answer(text, msg("x" * 41)) == Rejected("hint_text_too_long", {"max": 40})
    assert answer(step("text"), msg("x" * 1001)) == Rejected("hint_text_too_long", {"max": 1000})
    assert isinstance(answer(step("text"), msg("x" * 1000)), Accepted)


@pytest.mark.parametrize("said", ["omitir", "Saltar", "skip", "ninguna", "no"])
def test_optional_text_skip(said: str) -> None:
    assert answer(step("text", optional=True), msg(said)) == Accepted(None, "-", "skip")


def test_skip_word_is_text_when_not_optional() -> None:
    assert answer(step("text"), msg("no")) == Accepted("no", "no")


@pytest.mark.parametrize("kind", ["text", "photo", "location"])
def test_the_skip_options_number_skips(kind: str) -> None:
    """Without buttons the skip option reads "1. Omitir": typing 1 skips, so numbers alone finish a flow."""
    assert answer(step(kind, optional=True), msg("1")) == Accepted(None, "-", "skip")
    assert answer(step(kind, optional=True), msg("opción 1")) == Accepted(None, "-", "skip")
    assert answer(step(kind, optional=True), msg("2")) != Accepted(None, "-", "skip")


def test_the_number_one_is_text_when_not_optional() -> None:
    assert answer(step("text"), msg("1")) == Accepted("1", "1")


# -- number --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("said", "value", "shown"),
    [
        ("3", 3, "3"),
        ("3,5", 3.5, "3,5"),
        ("3.5", 3.5, "3,5"),
        ("-2", -2, "-2"),
        (" 12 ", 12, "12"),
        ("3 personas", 3, "3"),
    ],
)
def test_number(said: str, value: float, shown: str) -> None:
    result = answer(step("number"), msg(said))
    assert result == Accepted(value, shown)
    assert isinstance(result, Accepted) and type(result.value) is type(value)


@pytest.mark.parametrize("said", ["tres", "", "1 o 2", "9" * 5000, "1e999"])
def test_number_rejects(said: str) -> None:
    assert answer(step("number"), msg(said)) == Rejected("hint_number")


# -- date ----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("said", "iso"),
    [
        ("hoy", "2025-03-12"),
        ("Today", "2025-03-12"),
        ("mañana", "2025-03-13"),
        ("manana", "2025-03-13"),
        ("tomorrow", "2025-03-13"),
        ("pasado mañana", "2025-03-14"),
        ("15/03", "2025-03-15"),
        ("15/03/2026", "2026-03-15"),
        ("1/4/25", "2025-04-01"),
        ("2025-04-01", "2025-04-01"),
        ("el lunes", "2025-03-17"),
        ("Monday", "2025-03-17"),
        ("miércoles", "2025-03-19"),
        ("el viernes", "2025-03-14"),
        ("15 de abril", "2025-04-15"),
        ("april 15", "2025-04-15"),
    ],
)
def test_date(said: str, iso: str) -> None:
    result = answer(step("date"), msg(said))
    assert isinstance(result, Accepted) and result.value == iso, said


@pytest.mark.parametrize("said", ["31/02", "algún día", "", "2025-13-01", "99/99/9999"])
def test_date_rejects(said: str) -> None:
    assert answer(step("date"), msg(said)) == Rejected("hint_date")


# -- time ----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("said", "value"),
    [
        ("10:30", "10:30"),
        ("10.30", "10:30"),
        ("9", "09:00"),
        ("10h", "10:00"),
        ("17:00h", "17:00"),
        ("a las 10 y media", "10:30"),
        ("sobre las 9 y cuarto", "09:15"),
        ("las 9 menos cuarto", "08:45"),
        ("5 de la tarde", "17:00"),
        ("8 de la mañana", "08:00"),
        ("5 pm", "17:00"),
        ("5:15pm", "17:15"),
        ("10:30 a.m.", "10:30"),
        ("12 am", "00:00"),
        ("12 pm", "12:00"),
        ("half past 10", "10:30"),
        ("quarter to 11", "10:45"),
        ("at 4 pm", "16:00"),
        ("mediodía", "12:00"),
        ("Noon", "12:00"),
        ("0:05", "00:05"),
    ],
)
def test_time(said: str, value: str) -> None:
    result = answer(step("time"), msg(said))
    assert result == Accepted(value, value), said


@pytest.mark.parametrize("said", ["25:00", "10:75", "15 pm", "pronto", "3 o 4", "", "10:30 y media", "0 menos cuarto"])
def test_time_rejects(said: str) -> None:
    assert answer(step("time"), msg(said)) == Rejected("hint_time")


# -- photo ---------------------------------------------------------------------------------------------------------


def test_photo() -> None:
    photo = step("photo", optional=True)
    got = answer(photo, msg(None, photos=(Photo("f1", "image/jpeg"), Photo("f2"))))
    assert got == Accepted({"ref": "f1", "mime_type": "image/jpeg"}, "📷 foto")
    assert answer(photo, msg(None, photos=(Photo("f1"),)), "en").display == "📷 photo"  # type: ignore[union-attr]
    assert answer(photo, msg("omitir")) == Accepted(None, "-", "skip")
    assert answer(photo, msg(choice="skip")) == Accepted(None, "-", "skip")
    assert answer(step("photo"), msg("omitir")) == Rejected("hint_photo")
    assert answer(photo, msg("aquí va la foto")) == Rejected("hint_photo")


# -- location ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("said", "lat", "lon"),
    [
        ("37.1, -3.6", 37.1, -3.6),
        ("https://www.google.com/maps/place/Jun/@37.2212,-3.5951,15z", 37.2212, -3.5951),
        ("https://maps.google.com/?q=37.22,-3.59", 37.22, -3.59),
        ("https://maps.google.com/maps?ll=37.22,-3.59&z=16", 37.22, -3.59),
        ("https://www.openstreetmap.org/#map=17/37.2212/-3.5951", 37.2212, -3.5951),
        ("https://www.openstreetmap.org/?mlat=37.22&mlon=-3.59#map=17/37.22/-3.59", 37.22, -3.59),
        ("mira geo:37.22,-3.59 aquí", 37.22, -3.59),
    ],
)
def test_location_from_text(said: str, lat: float, lon: float) -> None:
    result = answer(step("location"), msg(said))
    assert result == Accepted({"latitude": lat, "longitude": lon, "address": None}, f"📍 {lat:.5f}, {lon:.5f}")


def test_location_shared_address_invalid_and_skip() -> None:
    where = step("location")
    shared = answer(where, msg(None, location=Location(37.22, -3.59)))
    assert isinstance(shared, Accepted) and shared.value == {"latitude": 37.22, "longitude": -3.59, "address": None}
    assert answer(where, msg("  Calle Real 5,  Jun ")) == Accepted(
        {"latitude": None, "longitude": None, "address": "Calle Real 5, Jun"}, "Calle Real 5, Jun"
    )
    assert answer(where, msg("95.0, 10.0")) == Rejected("hint_location")
    assert answer(where, msg("12")) == Rejected("hint_location")
    assert answer(where, msg("https://maps.app.goo.gl/abc")) == Rejected("hint_location")
    assert answer(where, msg(None, photos=(Photo("p"),))) == Rejected("hint_location")
    assert answer(step("location", optional=True), msg("saltar")) == Accepted(None, "-", "skip")


# -- nothing makes it raise ----------------------------------------------------------------------------------------

NASTY: tuple[InboundMessage, ...] = (
    msg(None),
    msg(""),
    msg("x" * 10_240),
    msg("🙂" * 3000),
    msg("<script>alert(1)</script>"),
    msg("\x00\x01\x02\x1b[31m\u202e\ufeff"),
    msg("9" * 10_000),
    msg("1" * 20 + "," + "2" * 20),
    msg("{summary} {0} %s %(x)s"),
    msg("nº"),
    msg("@" * 5000 + "1,2"),
    msg("geo:999,999"),
    msg("mlat=1&mlon=9999"),
    msg("-" * 10_000),
    msg("../" * 3000),
    msg("\n" * 5000),
    msg("31/02/0000"),
    msg("0000-00-00"),
    msg(choice="nonexistent"),
    msg(choice=""),
    msg("ok", choice="skip"),
    msg(None, photos=(Photo(""),)),
    msg(None, location=Location(90.0, 180.0)),
    msg("los " * 3000 + "lunes"),
    msg("\u0301" * 1000),
    msg("ǅ ß ﬁ Ⅻ ①"),
)
KINDS = ("text", "choice", "yes_no", "number", "date", "time", "photo", "location", "none")


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("optional", [False, True])
def test_never_raises(kind: str, optional: bool) -> None:
    the_step = step(
        kind,
        options_from="categories" if kind == "choice" else None,
        optional=optional and kind in ("text", "photo", "location"),
    )
    for message in NASTY:
        for language in ("es", "en", "fr"):
            result = answer(the_step, message, language)
            assert isinstance(result, (Accepted, Rejected))
            if isinstance(result, Rejected):
                assert result.hint in MESSAGES
