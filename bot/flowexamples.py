"""Example conversations kept next to the flows: the file format, read with file:line problems.

An admin writes, for each flow, ``flows/examples/<flow>.yaml``: conversations
in which the resident says something and the bot must answer with some text.
The flow loader reads only ``flows/*.yaml``, so the subfolder is never taken
for a flow. The shape::

    flow: report_incident
    conversations:
      - name: happy path in Spanish
        language: es                     # the resident's language hint
        verified: true                   # optional: the resident was verified at the town hall
        steps:
          - bot: "Hola"                   # the greeting must contain this text
          - say: "1"                      # the resident writes...
            bot: "¿Qué ha pasado?"        # ...and a reply must contain this
          - choice: skip                  # presses the button with this key
            bot: [Dónde, ubicación]       # a list: every text must appear
            not_bot: Calle Real           # no reply may contain this (a text or a list)
          - location: [37.13, -3.59]      # shares a location (latitude, longitude)
          - photo: some-photo-id          # sends a photo (any reference)
          - say: "sí"
            bot: "JUN-"
            saved: {service_request: {category: streetlight}}   # a row with these fields exists
            not_saved: [service_request]                        # or: no row of this kind exists

Every conversation starts as a resident opening the chat (a message with no
text), which the bot answers with its greeting; a first step with only
``bot:`` checks that greeting. Expected texts match a substring of the
bot's replies to that step (their text and button labels), ignoring case and
runs of spaces.

Malformed files raise :class:`~bot.errors.FlowErrors` whose problems name
the file and line, like flow files. :mod:`bot.flowtests` runs them.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq
from sqlalchemy import Table

from bot.errors import FlowError, FlowErrors
from bot.flows import NOT_FLOWS
from bot.messages import Location
from bot.yamlfile import YamlProblem, key_line, node_line, read_yaml_text
from bot.yamlfile import show_value as _show
from models import Appointment, HandoffRequest, ServiceRequest

__all__ = [
    "EXAMPLES_DIR",
    "SAVED_KINDS",
    "Conversation",
    "ExampleFile",
    "ExampleStep",
    "example_files",
    "load_examples",
    "parse_examples",
]

EXAMPLES_DIR = "examples"
"""The examples' folder, inside the flows folder."""

SAVED_KINDS: Mapping[str, Table] = {
    "service_request": ServiceRequest.__table__,  # type: ignore[attr-defined]
    "appointment": Appointment.__table__,  # type: ignore[attr-defined]
    "handoff_request": HandoffRequest.__table__,  # type: ignore[attr-defined]
}
"""What ``saved:`` and ``not_saved:`` can name, and the table each one is."""

_FILE_KEYS = ("flow", "conversations")
_CONVERSATION_KEYS = ("name", "language", "verified", "steps")
_ACTIONS = ("say", "choice", "location", "photo")
_STEP_KEYS = (*_ACTIONS, "bot", "not_bot", "saved", "not_saved")
_EXAMPLE = "start from an existing file, such as flows/examples/report_incident.yaml"


@dataclass(frozen=True, slots=True)
class ExampleStep:
    """What the resident does (at most one of say/choice/location/photo) and what must follow."""

    line: int
    say: str | None = None
    choice: str | None = None
    location: Location | None = None
    photo: str | None = None
    bot: tuple[str, ...] = ()
    not_bot: tuple[str, ...] = ()
    saved: Mapping[str, Mapping[str, Any]] | None = None
    saved_line: int | None = None
    not_saved: tuple[str, ...] = ()

    @property
    def is_start(self) -> bool:
        """True when the resident does nothing: the step checks the greeting."""
        return self.say is None and self.choice is None and self.location is None and self.photo is None

    def describe(self) -> str:
        """What the resident did, as a reader of the report would say it."""
        if self.say is not None:
            return f"the resident says {self.say!r}"
        if self.choice is not None:
            return f"the resident presses the button {self.choice!r}"
        if self.location is not None:
            return f"the resident shares the location {self.location.latitude}, {self.location.longitude}"
        if self.photo is not None:
            return f"the resident sends the photo {self.photo!r}"
        return "the resident opens the chat"


@dataclass(frozen=True, slots=True)
class Conversation:
    """One example conversation: its name, the resident's language and the steps.

    ``verified``: the resident counts as verified at the town hall (for flows
    marked ``requires: verified``) from the greeting on.
    """

    name: str
    language: str
    line: int
    steps: tuple[ExampleStep, ...]
    verified: bool = False


@dataclass(frozen=True, slots=True)
class ExampleFile:
    """One ``flows/examples/<flow>.yaml``."""

    flow: str
    path: str
    conversations: tuple[Conversation, ...]


def _did_you_mean(word: str, choices: Sequence[str], fallback: str) -> str:
    found = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"did you mean `{found[0]}`?" if found else fallback


def _scalar_text(value: object) -> str | None:
    """A text the admin wrote; numbers count as their text, true/false and blocks do not."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        return None
    return str(value)


@dataclass(slots=True)
class _Reader:
    path: str
    languages: tuple[str, ...]
    errors: list[FlowError]

    def fail(self, line: int | None, problem: str, hint: str = "") -> None:
        self.errors.append(FlowError(self.path, line, problem, hint))

    def known_keys(self, node: CommentedMap, allowed: Sequence[str], where: str) -> None:
        for key in node:
            if key not in allowed:
                hint = _did_you_mean(str(key), allowed, f"allowed keys are: {', '.join(allowed)}")
                self.fail(key_line(node, key), f"unknown key `{key}` in {where}", hint)

    def conversation(self, node: object, line: int, number: int) -> Conversation | None:
        where = f"conversation {number}"
        if not isinstance(node, CommentedMap):
            self.fail(line, f"{where} should be a block of keys (name, language, steps)", _EXAMPLE)
            return None
        self.known_keys(node, _CONVERSATION_KEYS, where)
        name = _scalar_text(node.get("name"))
        if name is None or not name.strip():
            self.fail(line, f"{where} has no `name`", "add `name: what this conversation shows`")
            name = where
        where = f"conversation `{name}`"
        language = _scalar_text(node.get("language"))
        if language not in self.languages:
            found = "no `language`" if language is None else f"the language `{language}`"
            self.fail(
                key_line(node, "language") if "language" in node else line,
                f"{where} has {found}",
                f"write `language:` and one of: {', '.join(self.languages)}",
            )
        verified = node.get("verified", False)
        if not isinstance(verified, bool):
            self.fail(
                key_line(node, "verified"),
                f"`verified` in {where} should be true or false, found {_show(verified)}",
                "write `verified: true` for a resident verified at the town hall, or remove the line",
            )
        steps_node = node.get("steps")
        if not isinstance(steps_node, CommentedSeq) or not steps_node:
            self.fail(
                key_line(node, "steps") if "steps" in node else line,
                f"{where} should have `steps:`, a list of what the resident says and the bot answers",
                "write each step on a line starting with `- say:` and, under it, `bot:`",
            )
            return None
        steps: list[ExampleStep] = []
        for index, step_node in enumerate(steps_node):
            step = self.step(step_node, int(steps_node.lc.item(index)[0]) + 1, index, where)
            if step is not None:
                steps.append(step)
        if language not in self.languages or len(steps) != len(steps_node) or not isinstance(verified, bool):
            return None
        return Conversation(name=name, language=str(language), line=line, steps=tuple(steps), verified=verified)

    def step(self, node: object, line: int, index: int, where: str) -> ExampleStep | None:
        if not isinstance(node, CommentedMap):
            self.fail(
                line,
                f"step {index + 1} of {where} should be a block of keys, such as `say:` and `bot:`",
                'write `- say: "..."` and, indented under it, `bot: "..."`',
            )
            return None
        errors = len(self.errors)
        self.known_keys(node, _STEP_KEYS, f"a step of {where}")
        actions = [key for key in _ACTIONS if key in node]
        if len(actions) > 1:
            self.fail(
                line,
                f"a step of {where} has {' and '.join(f'`{a}`' for a in actions)}",
                "the resident does one thing per step: split it into two steps",
            )
        if not actions and index > 0:
            self.fail(
                line,
                f"a step of {where} has nothing the resident does",
                "add `say:`, `choice:`, `location:` or `photo:` (only the first step may have just `bot:`)",
            )
        values: dict[str, Any] = {}
        for key in ("say", "choice", "photo"):
            if key in node:
                text = _scalar_text(node[key])
                if text is None or (key != "say" and not text.strip()):
                    self.fail(
                        key_line(node, key), f"`{key}` should be a text, found {_show(node[key])}", "put it in quotes"
                    )
                values[key] = text
        if "location" in node:
            values["location"] = self.location(node, where)
        bot = self.texts(node, "bot")
        not_bot = self.texts(node, "not_bot")
        saved = self.saved(node, where) if "saved" in node else None
        not_saved = self.not_saved(node, where) if "not_saved" in node else ()
        if len(self.errors) > errors:
            return None
        return ExampleStep(
            line=line,
            bot=bot,
            not_bot=not_bot,
            saved=saved,
            saved_line=key_line(node, "saved") if "saved" in node else None,
            not_saved=not_saved,
            **values,
        )

    def texts(self, node: CommentedMap, key: str) -> tuple[str, ...]:
        """``bot`` or ``not_bot``: a text or a list of texts."""
        if key not in node:
            return ()
        raw = node[key]
        found: list[str] = []
        for item in list(raw) if isinstance(raw, CommentedSeq) else [raw]:
            text = _scalar_text(item)
            if text is None or not text.strip():
                self.fail(
                    key_line(node, key),
                    f"`{key}` should be a text or a list of texts, found {_show(item)}",
                    f'write `{key}: "part of the answer"` or `{key}: ["one part", "another"]`',
                )
                continue
            found.append(text)
        return tuple(found)

    def location(self, node: CommentedMap, where: str) -> Location | None:
        raw = node["location"]
        numbers = list(raw) if isinstance(raw, CommentedSeq) else []
        if len(numbers) == 2 and all(isinstance(n, (int, float)) and not isinstance(n, bool) for n in numbers):
            try:
                return Location(float(numbers[0]), float(numbers[1]))
            except ValueError:
                pass
        self.fail(
            key_line(node, "location"),
            f"`location` in a step of {where} should be [latitude, longitude], found {_show(raw)}",
            "write for example `location: [37.13, -3.59]` (or `say:` with the address)",
        )
        return None

    def kind(self, word: object, line: int | None) -> str | None:
        if isinstance(word, str) and word in SAVED_KINDS:
            return word
        self.fail(line, f"`{word}` is not something a conversation saves", f"use one of: {', '.join(SAVED_KINDS)}")
        return None

    def saved(self, node: CommentedMap, where: str) -> Mapping[str, Mapping[str, Any]] | None:
        raw = node["saved"]
        line = key_line(node, "saved")
        if not isinstance(raw, CommentedMap) or not raw:
            self.fail(
                line,
                f"`saved` in a step of {where} should name what is saved and its fields",
                "write for example `saved: {service_request: {category: streetlight}}`",
            )
            return None
        result: dict[str, Mapping[str, Any]] = {}
        for kind, fields in raw.items():
            kind_line = key_line(raw, kind)
            if self.kind(kind, kind_line) is None:
                continue
            columns = list(SAVED_KINDS[kind].columns.keys())
            if not isinstance(fields, CommentedMap):
                self.fail(kind_line, f"`{kind}` under `saved` should be a block of fields", "write `{category: ...}`")
                continue
            for field_name in fields:
                if field_name not in columns:
                    self.fail(
                        key_line(fields, field_name),
                        f"a {kind} has no field `{field_name}`",
                        _did_you_mean(str(field_name), columns, f"its fields are: {', '.join(columns)}"),
                    )
            result[str(kind)] = dict(fields)
        return result

    def not_saved(self, node: CommentedMap, where: str) -> tuple[str, ...]:
        raw = node["not_saved"]
        items = list(raw) if isinstance(raw, CommentedSeq) else [raw]
        line = key_line(node, "not_saved")
        return tuple(kind for kind in (self.kind(item, line) for item in items) if kind is not None)


def parse_examples(text: str, path: str, languages: Sequence[str], flows: Sequence[str]) -> ExampleFile:
    """Parse one examples file's ``text`` (``path`` names it in errors).

    ``languages`` are the town's languages; ``flows`` the names of the loaded
    flows (``flow:`` must be one of them). Raises :class:`FlowErrors` with every
    problem of the file.
    """
    reader = _Reader(path, tuple(languages), [])
    try:
        root = read_yaml_text(text)
    except YamlProblem as problem:
        raise FlowErrors([FlowError(path, problem.line, problem.problem, problem.hint)]) from None
    if not isinstance(root, CommentedMap):
        raise FlowErrors(
            [
                FlowError(
                    path,
                    node_line(root) or 1,
                    "an examples file should be a block of keys (flow, conversations)",
                    _EXAMPLE,
                )
            ]
        )
    reader.known_keys(root, _FILE_KEYS, "the examples file")
    flow = _scalar_text(root.get("flow"))
    if flow is None:
        reader.fail(1, "the examples file has no `flow:`", f"add `flow: {Path(path).stem}` at the top")
    elif flow not in flows:
        reader.fail(
            key_line(root, "flow"),
            f"`flow: {flow}` is not one of the flows",
            _did_you_mean(flow, flows, f"the flows are: {', '.join(sorted(flows))}"),
        )
    conversations: list[Conversation] = []
    node = root.get("conversations")
    if not isinstance(node, CommentedSeq) or not node:
        reader.fail(
            key_line(root, "conversations") if "conversations" in root else 1,
            "the examples file should have `conversations:`, a list of conversations",
            "write each conversation on a line starting with `- name:`",
        )
    else:
        for index, item in enumerate(node):
            found = reader.conversation(item, int(node.lc.item(index)[0]) + 1, index + 1)
            if found is not None:
                conversations.append(found)
    if reader.errors or flow is None:
        raise FlowErrors(reader.errors or [FlowError(path, None, "the examples file could not be read")])
    return ExampleFile(flow=flow, path=path, conversations=tuple(conversations))


def example_files(directory: Path) -> list[Path]:
    """The ``*.yaml`` files of a folder that may hold flows or examples (not the wording files)."""
    return sorted(p for p in directory.glob("*.yaml") if p.name not in NOT_FLOWS)


def load_examples(directory: Path, languages: Sequence[str], flows: Sequence[str]) -> list[ExampleFile]:
    """Every examples file of ``directory``, in name order; raises :class:`FlowErrors` with every problem."""
    errors: list[FlowError] = []
    files: list[ExampleFile] = []
    for file in example_files(directory):
        try:
            text = file.read_bytes().decode("utf-8")
            files.append(parse_examples(text, str(file), languages, flows))
        except UnicodeDecodeError:
            errors.append(FlowError(str(file), None, "the file is not UTF-8 text", "save it as UTF-8"))
        except OSError as error:
            errors.append(FlowError(str(file), None, f"cannot read the file ({error.strerror})"))
        except FlowErrors as problems:
            errors.extend(problems.errors)
    if errors:
        raise FlowErrors(errors)
    return files
