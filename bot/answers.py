"""Reading a resident's answer to one step, for each input kind.

:func:`read_answer` turns an :class:`~bot.messages.InboundMessage` into
:class:`Accepted` (a JSON-able value, how to show it back, and the branch key
that picks a ``next`` entry) or :class:`Rejected` (the ``messages.yaml`` key of
the hint to give, with its parameters). It never raises, whatever the message
holds, and does no I/O. :func:`options_for` gives the translated options a step
offers; pass the same tuple to :func:`read_answer`, so "2" means what the
resident saw as option 2.

What each kind accepts:

- ``choice``: a pressed button's key, the option's number ("2", "2.", "nº 2"),
  its label or key ignoring case and accents, or a close misspelling (one
  unique best match). Value and branch: the option key.
- ``yes_no``: sí/si/s/vale/ok/claro/de acuerdo/yes/y/1 or no/n/nope/2. Value and
  branch: ``"yes"`` or ``"no"``.
- ``text``: the stripped text without control characters (newlines kept),
  between ``min_length`` and ``max_length`` (default :data:`MAX_TEXT`).
- ``number``: ``3``, ``-2``, ``3,5``, ``3.5`` -> int or float.
- ``date``: hoy/today, mañana/tomorrow, pasado mañana, ayer/yesterday, a weekday
  (the next one after today), ``dd/mm``, ``dd/mm/yyyy``, ``yyyy-mm-dd``,
  ``15 de marzo``. Value: ISO ``yyyy-mm-dd``.
- ``time``: ``10:30``, ``10.30``, ``10h``, ``a las 10 y media``, ``5 de la
  tarde``, ``5 pm``, ``half past 10``, ``quarter to 11``, ``mediodía``/``noon``.
  A bare hour is read on the 24-hour clock (``5`` is 05:00). Value: ``HH:MM``.
- ``photo``: the first photo -> ``{"ref", "mime_type"}``.
- ``location``: a shared location, coordinates, or a map link ->
  ``{"latitude", "longitude", "address": None}``; else a typed address (4 letters
  or more) -> ``{"latitude": None, "longitude": None, "address": text}``.

An optional text/photo/location step also accepts the ``skip`` button, its
number ``1`` (channels without buttons show it as "1. Omitir") or a skip word
(omitir, saltar, skip, ninguna, no): ``Accepted(None, "-", "skip")``.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta

from bot.flows import OptionSpec, Step, Text
from bot.messages import InboundMessage, Option

__all__ = ["MAX_TEXT", "SKIP", "Accepted", "Rejected", "Value", "options_for", "read_answer", "yes_or_no"]

MAX_TEXT = 1000
"""The longest text answer when the step sets no ``max_length``."""
SKIP = "skip"
"""The option key and branch of a skipped optional answer."""

Value = str | int | float | dict[str, str | float | None] | None
"""A JSON-able answer value."""

_SKIP_WORDS = frozenset({"omitir", "saltar", "skip", "ninguna", "ninguno", "no", "nada", "sin foto", "no tengo"})
_YES_WORDS = frozenset(
    {
        "si",
        "s",
        "vale",
        "yes",
        "y",
        "ok",
        "okay",
        "de acuerdo",
        "claro",
        "yep",
        "sure",
        "1",
        "correcto",
        "perfecto",
        "adelante",
        "enviar",
        "send",
    }
)
_NO_WORDS = frozenset({"no", "n", "nope", "2", "nada", "cancelar"})
_MIN_RATIO = 0.75


@dataclass(frozen=True, slots=True)
class Accepted:
    """A valid answer. ``branch`` picks a ``next`` entry (option key, yes/no, skip) or is None."""

    value: Value
    display: str
    branch: str | None = None


@dataclass(frozen=True, slots=True)
class Rejected:
    """A wrong answer: ``hint`` is a ``messages.yaml`` key, ``params`` fill its placeholders."""

    hint: str
    params: Mapping[str, str | int] = field(default_factory=dict)


def _pick(text: Text | None, language: str) -> str:
    """The text in ``language``, else in any language the text has."""
    if not text:
        return ""
    return text.get(language) or next(iter(text.values()), "")


def options_for(
    step: Step, language: str, sources: Mapping[str, tuple[OptionSpec, ...]], messages: Mapping[str, Text]
) -> tuple[Option, ...]:
    """The translated options a step offers, in order.

    Static ``options`` or the ``options_from`` source for a choice (empty if the
    source is unknown); yes/no labelled ``yes_label``/``no_label`` for yes_no; a
    single ``skip`` option labelled ``skip_label`` for an optional step; else none.
    """
    if step.input == "choice":
        specs = step.options if step.options_from is None else sources.get(step.options_from, ())
        return tuple(Option(spec.key, _pick(spec.label, language) or spec.key) for spec in specs)
    if step.input == "yes_no":
        return (
            Option("yes", _pick(messages.get("yes_label"), language) or "yes"),
            Option("no", _pick(messages.get("no_label"), language) or "no"),
        )
    if step.optional:
        return (Option(SKIP, _pick(messages.get("skip_label"), language) or SKIP),)
    return ()


def read_answer(
    step: Step, options: Sequence[Option], message: InboundMessage, language: str, today: date
) -> Accepted | Rejected:
    """Read ``message`` as the answer to ``step``; never raises.

    ``options`` are what :func:`options_for` gave for this step and language;
    ``today`` is the town's date, for relative dates.
    """
    text = _clean(message.text or "")
    if step.optional and (message.choice == SKIP or (_is_skip(text) and not _has_media(message))):
        return Accepted(None, "-", SKIP)
    kind = step.input
    if kind == "choice":
        return _read_choice(options, message, text)
    if kind == "yes_no":
        return _read_yes_no(options, message, text)
    if kind == "text":
        return _read_text(step, message, text)
    if kind == "number":
        return _read_number(text, language)
    if kind == "date":
        return _read_date(text, today)
    if kind == "time":
        return _read_time(text)
    if kind == "photo":
        return _read_photo(message, language)
    if kind == "location":
        return _read_location(message, text)
    return Accepted(text or None, text)


def _is_skip(text: str) -> bool:
    """A skip word, or the number of the single skip option (1)."""
    said = _norm(text)
    number = _NUMBERED.fullmatch(said)
    return said in _SKIP_WORDS or (number is not None and number.group(1) == "1")


def _has_media(message: InboundMessage) -> bool:
    return bool(message.photos) or message.location is not None


def _clean(text: str) -> str:
    """Strip, unify newlines, tabs to spaces, drop control characters but newline."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\t", " ")
    kept = "".join(c for c in text if c == "\n" or unicodedata.category(c) != "Cc")
    return kept.strip()


def _norm(text: str) -> str:
    """Lower case, no accents, punctuation as spaces, single spaces: for comparing words."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    words = re.sub(r"[^\w]+", " ", plain)
    return " ".join(words.replace("_", " ").split())


_NUMBERED = re.compile(r"(?:(?:n|no|num|numero|nro|number|opcion|option)\s*)?(\d{1,3})")


def _read_choice(options: Sequence[Option], message: InboundMessage, text: str) -> Accepted | Rejected:
    if message.choice is not None:
        for option in options:
            if option.key == message.choice:
                return Accepted(option.key, option.label, option.key)
    said = _norm(text)
    if not said or not options:
        return Rejected("hint_choice")
    number = _NUMBERED.fullmatch(said)
    if number:
        index = int(number.group(1))
        if 1 <= index <= len(options):
            option = options[index - 1]
            return Accepted(option.key, option.label, option.key)
        return Rejected("hint_choice")
    for option in options:
        if said in (_norm(option.label), _norm(option.key)):
            return Accepted(option.key, option.label, option.key)
    found = _closest_option(options, said)
    if found is not None:
        return Accepted(found.key, found.label, found.key)
    return Rejected("hint_choice")


def _closest_option(options: Sequence[Option], said: str) -> Option | None:
    """A unique near miss, or a unique label the answer contains (or that contains it as a word)."""
    scored = sorted(
        ((difflib.SequenceMatcher(None, said[:200], _norm(o.label)).ratio(), i) for i, o in enumerate(options)),
        reverse=True,
    )
    if scored and scored[0][0] >= _MIN_RATIO and (len(scored) == 1 or scored[1][0] < scored[0][0]):
        return options[scored[0][1]]
    words = f" {said} "
    inside = [o for o in options if _norm(o.label) and f" {_norm(o.label)} " in words]
    if len(inside) == 1:
        return inside[0]
    if len(said) >= 4:
        holding = [o for o in options if f" {said} " in f" {_norm(o.label)} "]
        if len(holding) == 1:
            return holding[0]
        # a misspelt word of a label: "alumbrdo" for "Alumbrado público"
        near = {
            i
            for i, o in enumerate(options)
            for word in _norm(o.label).split()
            if len(word) >= 4 and difflib.SequenceMatcher(None, said, word).ratio() >= 0.8
        }
        if len(near) == 1:
            return options[near.pop()]
    return None


def _read_yes_no(options: Sequence[Option], message: InboundMessage, text: str) -> Accepted | Rejected:
    labels = {o.key: o.label for o in options}
    if message.choice in ("yes", "no"):
        return _yes_no(message.choice, labels)
    said = _norm(text)
    for option in options:
        if option.key in ("yes", "no") and said and said == _norm(option.label):
            return _yes_no(option.key, labels)
    if said in _YES_WORDS:
        return _yes_no("yes", labels)
    if said in _NO_WORDS:
        return _yes_no("no", labels)
    first = said.split(" ", 1)[0] if said else ""
    if first in _NO_WORDS:
        return _yes_no("no", labels)
    if first in _YES_WORDS:
        return _yes_no("yes", labels)
    return Rejected("hint_yes_no")


def yes_or_no(options: Sequence[Option], message: InboundMessage) -> str | None:
    """``yes`` or ``no`` for an answer to a yes/no question the engine asks itself, else None."""
    result = _read_yes_no(options, message, _clean(message.text or ""))
    return str(result.value) if isinstance(result, Accepted) else None


def _yes_no(key: str, labels: Mapping[str, str]) -> Accepted:
    return Accepted(key, labels.get(key, key), key)


def _read_text(step: Step, message: InboundMessage, text: str) -> Accepted | Rejected:
    if not text:
        return Rejected("hint_not_text" if _has_media(message) else "hint_text_empty")
    limit = step.max_length if step.max_length is not None else MAX_TEXT
    if len(text) > limit:
        return Rejected("hint_text_too_long", {"max": limit})
    if step.min_length is not None and len(text) < step.min_length:
        return Rejected("hint_text_too_short", {"min": step.min_length})
    return Accepted(text, text)


_NUMBER = re.compile(r"[+-]?\d{1,15}(?:[.,]\d{1,15})?")


def _read_number(text: str, language: str) -> Accepted | Rejected:
    found = _NUMBER.findall(text[:200])
    if len(found) != 1 or (_NUMBER.fullmatch(text.strip()) is None and len(text) > 40):
        return Rejected("hint_number")
    written = found[0].replace(",", ".")
    value: int | float = float(written) if "." in written else int(written)
    shown = str(value)
    if isinstance(value, float) and language == "es":
        shown = shown.replace(".", ",")
    return Accepted(value, shown)


_MONTHS = {
    "enero": 1,
    "febrero": 2,
    "marzo": 3,
    "abril": 4,
    "mayo": 5,
    "junio": 6,
    "julio": 7,
    "agosto": 8,
    "septiembre": 9,
    "setiembre": 9,
    "octubre": 10,
    "noviembre": 11,
    "diciembre": 12,
    "january": 1,
    "february": 2,
    "march": 3,
    "april": 4,
    "may": 5,
    "june": 6,
    "july": 7,
    "august": 8,
    "september": 9,
    "october": 10,
    "november": 11,
    "december": 12,
}
_WEEKDAYS = {
    "lunes": 0,
    "martes": 1,
    "miercoles": 2,
    "jueves": 3,
    "viernes": 4,
    "sabado": 5,
    "domingo": 6,
    "monday": 0,
    "tuesday": 1,
    "wednesday": 2,
    "thursday": 3,
    "friday": 4,
    "saturday": 5,
    "sunday": 6,
}
_RELATIVE = {
    "hoy": 0,
    "today": 0,
    "manana": 1,
    "tomorrow": 1,
    "pasado manana": 2,
    "day after tomorrow": 2,
    "the day after tomorrow": 2,
    "ayer": -1,
    "yesterday": -1,
}
_FILLER = re.compile(r"^(?:el|la|este|esta|proximo|next|this|on|para|for)\s+")
_NUMERIC_DATE = re.compile(r"(\d{1,2})[/.-](\d{1,2})(?:[/.-](\d{2}|\d{4}))?")
_ISO_DATE = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})")
_NAMED_DATE = re.compile(r"(\d{1,2}) (?:de )?([a-z]+)(?: (?:de )?(\d{4}))?")
_NAMED_DATE_EN = re.compile(r"([a-z]+) (\d{1,2})(?:st|nd|rd|th)?(?: (\d{4}))?")


def _read_date(text: str, today: date) -> Accepted | Rejected:
    raw = text.strip().lower()[:100]
    found = _parse_date(raw, _norm(raw), today)
    if found is None:
        return Rejected("hint_date")
    return Accepted(found.isoformat(), found.strftime("%d/%m/%Y"))


def _parse_date(raw: str, said: str, today: date) -> date | None:
    while _FILLER.match(said):
        said = _FILLER.sub("", said, count=1)
    if said in _RELATIVE:
        return today + timedelta(days=_RELATIVE[said])
    if said in _WEEKDAYS:
        ahead = (_WEEKDAYS[said] - today.weekday() - 1) % 7 + 1
        return today + timedelta(days=ahead)
    try:
        iso = _ISO_DATE.fullmatch(raw)
        if iso:
            return date(int(iso.group(1)), int(iso.group(2)), int(iso.group(3)))
        numeric = _NUMERIC_DATE.fullmatch(raw)
        if numeric:
            year = numeric.group(3)
            full = today.year if year is None else int(year) + (2000 if len(year) == 2 else 0)
            return date(full, int(numeric.group(2)), int(numeric.group(1)))
        named = _NAMED_DATE.fullmatch(said)
        if named and named.group(2) in _MONTHS:
            year = named.group(3)
            return date(int(year) if year else today.year, _MONTHS[named.group(2)], int(named.group(1)))
        named = _NAMED_DATE_EN.fullmatch(said)
        if named and named.group(1) in _MONTHS:
            year = named.group(3)
            return date(int(year) if year else today.year, _MONTHS[named.group(1)], int(named.group(2)))
    except ValueError:
        return None
    return None


_TIME_FILLER = re.compile(r"^(?:a las|sobre las|hacia las|como a las|las|a la|la|at|around|about|by)\s+")
_TIME_WORDS = {"mediodia": (12, 0), "medio dia": (12, 0), "noon": (12, 0), "midday": (12, 0)}
_TIME_WORDS |= {"medianoche": (0, 0), "midnight": (0, 0)}
_CLOCK = re.compile(
    r"(\d{1,2})(?:\s*h(?:oras|rs)?)?(?:\s*(\d{2}))?\s*(?:h(?:oras|rs)?)?"
    r"(?:\s+(y media|y cuarto|menos cuarto))?"
    r"(?:\s*(am|a m|pm|p m|de la manana|de la tarde|de la noche|in the morning|in the afternoon|in the evening"
    r"|at night))?"
)
_PAST = re.compile(r"(half|quarter) past (\d{1,2})(?:\s*(am|a m|pm|p m))?")
_TO = re.compile(r"quarter to (\d{1,2})(?:\s*(am|a m|pm|p m))?")
_AFTERNOON = frozenset({"pm", "p m", "de la tarde", "de la noche", "in the afternoon", "in the evening", "at night"})


def _read_time(text: str) -> Accepted | Rejected:
    found = _parse_time(_norm(text[:60]))
    if found is None:
        return Rejected("hint_time")
    shown = f"{found[0]:02d}:{found[1]:02d}"
    return Accepted(shown, shown)


def _parse_time(said: str) -> tuple[int, int] | None:
    while _TIME_FILLER.match(said):
        said = _TIME_FILLER.sub("", said, count=1)
    if said in _TIME_WORDS:
        return _TIME_WORDS[said]
    hour: int
    minute: int
    part: str | None
    if match := _PAST.fullmatch(said):
        hour, minute, part = int(match.group(2)), 30 if match.group(1) == "half" else 15, match.group(3)
    elif match := _TO.fullmatch(said):
        hour, minute, part = int(match.group(1)) - 1, 45, match.group(2)
    elif match := _CLOCK.fullmatch(said):
        hour, minute, part = int(match.group(1)), int(match.group(2) or 0), match.group(4)
        extra = match.group(3)
        if extra and match.group(2):
            return None  # "10:30 y media"
        if extra == "y media":
            minute = 30
        elif extra == "y cuarto":
            minute = 15
        elif extra == "menos cuarto":
            hour, minute = hour - 1, 45
    else:
        return None
    if part is not None:
        if not 0 <= hour <= 12:
            return None  # "15 pm"
        if part in _AFTERNOON and hour < 12:
            hour += 12
        elif part in {"am", "a m"} and hour == 12:
            hour = 0
    if not (0 <= hour <= 23 and 0 <= minute <= 59):
        return None
    return hour, minute


def _read_photo(message: InboundMessage, language: str) -> Accepted | Rejected:
    if not message.photos:
        return Rejected("hint_photo")
    photo = message.photos[0]
    return Accepted({"ref": photo.ref, "mime_type": photo.mime_type}, "📷 foto" if language == "es" else "📷 photo")


_COORD = r"([+-]?\d{1,3}(?:\.\d{1,15})?)"
_PAIR = re.compile(_COORD + r"\s*(?:,|%2C)\s*" + _COORD)
_LINK_PATTERNS = (
    re.compile(r"@" + _COORD + r"," + _COORD),
    re.compile(r"[?&](?:q|ll|query|center|daddr|destination|sll)=(?:loc:)?" + _COORD + r"\s*(?:,|%2C)\s*" + _COORD),
    re.compile(r"#map=\d{1,2}/" + _COORD + r"/" + _COORD),
    re.compile(r"geo:" + _COORD + r"," + _COORD),
)
_MLAT = re.compile(r"mlat=" + _COORD)
_MLON = re.compile(r"mlon=" + _COORD)
_URL = re.compile(r"https?://|www\.|geo:", re.IGNORECASE)


def _read_location(message: InboundMessage, text: str) -> Accepted | Rejected:
    if message.location is not None:
        return _place(message.location.latitude, message.location.longitude)
    text = text[:2000]
    if not text:
        return Rejected("hint_location")
    pair = _coordinates(text)
    if pair is not None:
        return _place(*pair)
    if _URL.search(text):
        return Rejected("hint_location")
    letters = sum(1 for c in text if c.isalpha())
    if letters >= 4 and len(text) <= 300:
        address = " ".join(text.split())
        return Accepted({"latitude": None, "longitude": None, "address": address}, address)
    return Rejected("hint_location")


def _coordinates(text: str) -> tuple[float, float] | None:
    bare = _PAIR.fullmatch(text.strip())
    if bare:
        return float(bare.group(1)), float(bare.group(2))
    for pattern in _LINK_PATTERNS:
        found = pattern.search(text)
        if found:
            return float(found.group(1)), float(found.group(2))
    lat, lon = _MLAT.search(text), _MLON.search(text)
    if lat and lon:
        return float(lat.group(1)), float(lon.group(1))
    return None


def _place(latitude: float, longitude: float) -> Accepted | Rejected:
    if not (-90.0 <= latitude <= 90.0 and -180.0 <= longitude <= 180.0):
        return Rejected("hint_location")
    return Accepted(
        {"latitude": latitude, "longitude": longitude, "address": None}, f"📍 {latitude:.5f}, {longitude:.5f}"
    )
