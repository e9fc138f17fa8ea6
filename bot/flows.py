"""Flow YAML -> frozen :class:`Flow` / :class:`Step` objects, with validation.

Admins write flows (see DESIGN.md, "Flow YAML"); every problem becomes a
:class:`~bot.errors.FlowError` printed as ``file:line: problem — fix`` for a
non-programmer. :func:`parse_flow` checks one file; :func:`load_flows` checks a
whole directory (cross-flow ``goto`` targets, the main flow) and the engine's
own wording in ``messages.yaml``. Both raise :class:`~bot.errors.FlowErrors`
holding *every* problem found, never just the first.

YAML is read as YAML 1.2 (:mod:`bot.yamlfile`), so ``yes``, ``no``, ``on`` and
``off`` stay words: ``next: {yes: submit, no: cancelled}`` means what it says.

Contracts the engine relies on once a flow loaded without errors:

- every ``next`` target is a state; every ``goto`` is a loaded flow;
- every state is reachable from ``start`` and has a way out (``next``,
  ``goto`` or ``end: true``); ``end`` and ``goto`` states have no ``next``;
- a step waits for an answer exactly when ``input != "none"``, and then it has
  ``ask``; ``options`` only on ``choice``; ``optional`` only on
  text/photo/location; ``min_length``/``max_length`` only on text;
- a ``next`` mapping is only on ``choice`` (its keys are exactly the option
  keys, of ``options`` or of the ``options_from`` source), on ``yes_no`` (exactly
  ``yes`` and ``no``), or on a state with an ``action`` (its keys are the
  action's branches, not checked here); every other step has a single ``next``;
- every Text has every configured language;
- every ``{placeholder}`` in ask/say/hint is a builtin, provided by the state's
  own action, or saved (``save:`` or an action's provides) by some state that
  can come before it; ``hint`` may also use ``{min}`` and ``{max}``.
"""

from __future__ import annotations

import difflib
import hashlib
import string
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from ruamel.yaml.comments import CommentedMap, CommentedSeq

from bot.conditions import RESIDENT, RESIDENT_VALUES, Check, Rule, plain
from bot.errors import FlowError, FlowErrors
from bot.yamlfile import YamlProblem, decode_utf8, key_line, node_line, read_yaml_text
from bot.yamlfile import show_value as _show

__all__ = [
    "INPUT_KINDS",
    "NOT_FLOWS",
    "REQUIRED_MESSAGES",
    "Flow",
    "FlowContext",
    "FlowSet",
    "OptionSpec",
    "Step",
    "Text",
    "load_flows",
    "load_messages",
    "parse_flow",
    "saved_names",
]

Text = Mapping[str, str]
"""A text per language code (``{"es": "Hola", "en": "Hello"}``)."""

INPUT_KINDS: tuple[str, ...] = (
    "text",
    "choice",
    "yes_no",
    "number",
    "date",
    "time",
    "photo",
    "location",
    "none",
)
OPTIONAL_KINDS: tuple[str, ...] = ("text", "photo", "location")
MESSAGES_FILE = "messages.yaml"
NOT_FLOWS: tuple[str, ...] = (MESSAGES_FILE, "words.yaml")
"""Files of the flows folder that are wording, not flows (``words.yaml`` is read by :mod:`bot.words`)."""

REQUIRED_MESSAGES: tuple[str, ...] = (
    "greeting",
    "not_understood",
    "hint_choice",
    "hint_yes_no",
    "hint_text_empty",
    "hint_text_too_short",
    "hint_text_too_long",
    "hint_number",
    "hint_date",
    "hint_time",
    "hint_photo",
    "hint_location",
    "hint_not_text",
    "help",
    "cancelled",
    "nothing_to_go_back",
    "language_ask",
    "language_changed",
    "unsupported_content",
    "slow_down",
    "error_apology",
    "error_handed_over",
    "handoff_withdrawn",
    "handoff_still_waiting",
    "handoff_taken",
    "official_says",
    "official_sends_photo",
    "handoff_transferred",
    "handoff_released",
    "handoff_resolved",
    "relay_new_handoff",
    "relay_withdrawn",
    "relay_transferred_handoff",
    "relay_resident_says",
    "relay_photo",
    "relay_location",
    "relay_other",
    "relay_taken",
    "relay_released",
    "relay_resolved",
    "relay_taken_by_other",
    "relay_not_found",
    "relay_already_bot",
    "relay_which",
    "relay_no_conversation",
    "relay_help",
    "relay_empty",
    "relay_text_only",
    "relay_too_long",
    "relay_queue",
    "relay_queue_waiting",
    "relay_queue_yours",
    "relay_queue_empty",
    "relay_word_take",
    "relay_word_release",
    "relay_word_resolve",
    "relay_word_queue",
    "relay_word_reply",
    "relay_word_help",
    "skip_label",
    "yes_label",
    "no_label",
    "requires_verified",
    "anything_else",
    "proposal_accepted",
    "proposal_rejected",
    "proposal_scheduled",
    "weekdays",
    "appointment_reminder",
    "emergency",
    "request_status_received",
    "request_status_acknowledged",
    "request_status_in_progress",
    "request_status_fixed",
    "request_status_duplicate",
    "request_status_not_ours",
    "request_status_closed",
    "request_status_note",
    "took_minute",
    "took_minutes",
    "took_hour",
    "took_hours",
    "took_day",
    "took_days",
    "broadcast",
    "broadcast_public",
    "verify_ask",
    "verify_linked",
    "verify_already",
    "verify_malformed",
    "verify_failed",
    "verify_taken",
    "verify_locked",
    "unlink_confirm",
    "unlinked",
    "unlink_not_linked",
    "account_unchanged",
    "my_data",
    "erase_confirm",
    "erased",
    "privacy_not_yours",
)
"""The keys ``flows/messages.yaml`` must define, each in every language."""

_FLOW_KEYS = ("flow", "title", "start", "requires", "moved", "states")
PARTS_DIR = "parts"
"""The sub-folder of flows that are only called by other flows (``call:``), never started from a menu."""
_STATE_KEYS = (
    "ask",
    "say",
    "input",
    "options",
    "options_from",
    "save",
    "next",
    "action",
    "goto",
    "call",
    "end",
    "optional",
    "min_length",
    "max_length",
    "hint",
)
_HINT_PARAMS = ("min", "max")


@dataclass(frozen=True, slots=True)
class OptionSpec:
    """One choice as written: its key (what ``next`` maps) and its label per language."""

    key: str
    label: Text


@dataclass(frozen=True, slots=True)
class Step:
    """One state of a flow. See the module docstring for what validation guarantees.

    On entering the state the engine runs ``action`` (if any), then says ``say``,
    then asks ``ask`` when the step :attr:`waits`. ``line`` is the 1-based line of
    the state's key in the file.
    """

    name: str
    line: int
    ask: Text | None = None
    say: Text | None = None
    input: str = "none"
    options: tuple[OptionSpec, ...] = ()
    options_from: str | None = None
    save: str | None = None
    next: str | Mapping[str, str] | tuple[Rule, ...] | None = None
    action: str | None = None
    goto: str | None = None
    call: str | None = None
    end: bool = False
    optional: bool = False
    min_length: int | None = None
    max_length: int | None = None
    hint: Text | None = None

    @property
    def waits(self) -> bool:
        """True when the step waits for an answer (``input`` is not ``none``)."""
        return self.input != "none"


@dataclass(frozen=True, slots=True)
class Flow:
    """One validated flow file. ``version`` is the first 12 hex digits of the sha256 of ``source``."""

    name: str
    path: str
    version: str
    source: str
    title: Text
    start: str
    requires: str | None
    states: Mapping[str, Step]
    part: bool = False
    moved: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class FlowContext:
    """What validation needs from outside: languages, option sources, actions, other flows.

    ``actions`` maps an action name to the placeholder names it provides;
    ``lists`` an action name to the option lists it fills at run time (an
    ``options_from`` that is not one of ``option_sources`` must be filled by an
    action of the same flow). ``builtins`` are placeholders the engine always fills.
    """

    languages: tuple[str, ...]
    option_sources: Mapping[str, tuple[OptionSpec, ...]]
    actions: Mapping[str, tuple[str, ...]]
    lists: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    called: Mapping[str, frozenset[str]] = field(default_factory=dict)
    builtins: tuple[str, ...] = ("summary", "town")

    def list_fillers(self, name: str) -> tuple[str, ...]:
        """The actions that fill the run-time option list ``name``."""
        return tuple(sorted(action for action, names in self.lists.items() if name in names))


@dataclass(frozen=True, slots=True)
class FlowSet:
    """Every flow of a directory by name, and the engine's wording from ``messages.yaml``."""

    flows: Mapping[str, Flow]
    messages: Mapping[str, Text]


def _closest(word: str, choices: Iterable[str]) -> str | None:
    found = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return found[0] if found else None


def _did_you_mean(word: str, choices: Iterable[str], fallback: str) -> str:
    best = _closest(word, choices)
    return f"did you mean `{best}`?" if best else fallback


def _listing(words: Iterable[str]) -> str:
    items = sorted(words)
    return ", ".join(items) if items else "(none)"


@dataclass(slots=True)
class _Reader:
    """Collects problems of one file while turning its nodes into values."""

    path: str
    languages: tuple[str, ...]
    errors: list[FlowError] = field(default_factory=list)

    def fail(self, line: int | None, problem: str, hint: str = "", state: str | None = None) -> None:
        self.errors.append(FlowError(self.path, line, problem, hint, state))

    def known_keys(self, node: CommentedMap, allowed: Sequence[str], where: str, state: str | None) -> None:
        for key in node:
            if key not in allowed:
                hint = _did_you_mean(str(key), allowed, f"allowed keys are: {', '.join(allowed)}")
                self.fail(key_line(node, key), f"unknown key `{key}` in {where}", hint, state)

    def word(self, node: CommentedMap, key: str, where: str, state: str | None) -> str | None:
        """A plain word (name) value; numbers are accepted as their text."""
        value = node.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            self.fail(
                key_line(node, key),
                f"`{key}` in {where} should be a single word, found {_show(value)}",
                f"write `{key}: some_name`",
                state,
            )
            return None
        text = str(value).strip()
        if not text:
            self.fail(key_line(node, key), f"`{key}` in {where} is empty", f"write `{key}: some_name`", state)
            return None
        return text

    def text(self, node: CommentedMap, key: object, where: str, state: str | None) -> Text | None:
        """A text per language; reports a missing language or a non-text value."""
        value = node.get(key)
        line = key_line(node, key)
        example = "{" + ", ".join(f"{lang}: ..." for lang in self.languages) + "}"
        if not isinstance(value, CommentedMap):
            self.fail(
                line, f"{where} should have a text per language, found {_show(value)}", f"write it as {example}", state
            )
            return None
        result: dict[str, str] = {}
        for lang, text in value.items():
            if text is None:
                # `{es: Uno, dos, en: ...}`: YAML splits at the comma and `dos` becomes a key with no text
                self.fail(
                    key_line(value, lang),
                    f"{where} has `{lang}` with no text",
                    'a comma splits a text written inside { }: put the whole text in quotes, `es: "Uno, dos"`',
                    state,
                )
                continue
            if isinstance(text, bool) or not isinstance(text, (str, int, float)):
                self.fail(
                    key_line(value, lang),
                    f"{where} in `{lang}` should be a text, found {_show(text)}",
                    "put the text in quotes",
                    state,
                )
                continue
            result[str(lang)] = str(text)
        for lang in self.languages:
            if not result.get(lang, "").strip():
                self.fail(
                    line,
                    f"{where} has no `{lang}` translation",
                    f"add `{lang}: ...` (every configured language needs a text)",
                    state,
                )
        return result

    def flag(self, node: CommentedMap, key: str, where: str, state: str | None) -> bool:
        value = node.get(key, False)
        if value is None or isinstance(value, bool):
            return bool(value)
        self.fail(
            key_line(node, key),
            f"`{key}` in {where} should be true or false, found {_show(value)}",
            f"write `{key}: true` or `{key}: false` (yes/no are words in flow files)",
            state,
        )
        return False

    def length(self, node: CommentedMap, key: str, where: str, state: str | None) -> int | None:
        value = node.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            self.fail(
                key_line(node, key),
                f"`{key}` in {where} should be a whole number of 0 or more, found {_show(value)}",
                f"write for example `{key}: 10`",
                state,
            )
            return None
        return value


def _placeholders(text: str) -> tuple[list[str], bool]:
    """The ``{names}`` in a text, and whether its braces are well formed."""
    names: list[str] = []
    try:
        for _, name, _, _ in string.Formatter().parse(text):
            if name is not None:
                names.append(name)
    except ValueError:
        return names, False
    return names, True


def parse_flow(text: str, path: str, context: FlowContext) -> Flow:
    """Parse and validate one flow file's ``text`` (``path`` names it in errors).

    Checks everything that can be known from this file alone; ``goto`` targets
    are checked by :func:`load_flows`. Raises :class:`FlowErrors` with every
    problem of the file.
    """
    flow, errors, _ = _parse(text, path, context)
    if errors or flow is None:
        raise FlowErrors(errors or [FlowError(path, None, "the flow could not be read")])
    return flow


def _parse(
    text: str, path: str, context: FlowContext, part: bool = False, root: object = None
) -> tuple[Flow | None, list[FlowError], list[tuple[str, int]]]:
    """The flow (None when broken), its problems, and its ``goto`` targets with their lines
    (a ``call:`` target as ``call:NAME``). ``root`` is ``text`` already read as YAML, if it was
    (reading is most of the cost; the checks never change the tree)."""
    reader = _Reader(path, context.languages)
    if root is None:
        try:
            root = read_yaml_text(text)
        except YamlProblem as problem:
            return None, [FlowError(path, problem.line, problem.problem, problem.hint)], []
    if not isinstance(root, CommentedMap):
        reader.fail(
            node_line(root) or 1,
            "a flow file should be a block of keys (flow, title, start, states)",
            "start from an existing flow file, such as flows/report_incident.yaml",
        )
        return None, reader.errors, []
    reader.known_keys(root, _FLOW_KEYS, "the flow", None)
    stem = Path(path).stem
    name = reader.word(root, "flow", "the flow", None)
    if "flow" not in root:
        reader.fail(1, "the flow has no `flow:` name", f"add `flow: {stem}` at the top")
    elif name is not None and name != stem:
        reader.fail(
            key_line(root, "flow"),
            f"the flow is called `{name}` but the file is `{Path(path).name}`",
            f"write `flow: {stem}` or rename the file to `{name}.yaml`",
        )
    title: Text | None = None
    if "title" in root:
        title = reader.text(root, "title", "the title", None)
    requires = root.get("requires")
    if requires is not None and requires != "verified":
        reader.fail(
            key_line(root, "requires"),
            f"`requires` should be empty or `verified`, found {_show(requires)}",
            "write `requires: verified` for residents verified at the town hall, or remove the line",
        )
    start = reader.word(root, "start", "the flow", None)
    if "start" not in root:
        reader.fail(1, "the flow has no `start:` state", "add `start: <name of the first state>`")
    states_node = root.get("states")
    steps: dict[str, Step] = {}
    gotos: list[tuple[str, int]] = []
    next_lines: dict[str, int] = {}
    text_lines: dict[tuple[str, str], int] = {}
    if "states" not in root:
        reader.fail(1, "the flow has no `states:`", "add `states:` with at least one state under it")
    elif not isinstance(states_node, CommentedMap) or not states_node:
        reader.fail(
            key_line(root, "states"),
            "`states:` should be a block of named states",
            "indent each state's name under `states:`, then its keys under the name",
        )
    else:
        for key, node in states_node.items():
            step = _parse_step(reader, str(key), key_line(states_node, key) or 1, node, context)
            if step is None:
                continue
            steps[step.name] = step
            if isinstance(node, CommentedMap):
                next_lines[step.name] = key_line(node, "next") or step.line
                for text_key in ("ask", "say", "hint"):
                    text_lines[(step.name, text_key)] = key_line(node, text_key) or step.line
                if step.goto is not None:
                    gotos.append((step.goto, key_line(node, "goto") or step.line))
                if step.call is not None:
                    gotos.append((f"call:{step.call}", key_line(node, "call") or step.line))
        _check_graph(reader, root, steps, start, next_lines)
        _check_placeholders(reader, steps, context, text_lines)
        _check_lists(reader, steps, context)
        _check_rules(reader, steps, context, next_lines)
    moved = _parse_moved(reader, root, steps)
    if reader.errors or name is None or start is None:
        return None, reader.errors, gotos
    flow = Flow(
        name=name,
        path=path,
        version=hashlib.sha256(text.encode("utf-8")).hexdigest()[:12],
        source=text,
        title=title or {},
        start=start,
        requires=requires,
        states=steps,
        part=part,
        moved=moved,
    )
    return flow, [], gotos


def _parse_moved(reader: _Reader, root: CommentedMap, steps: Mapping[str, Step]) -> dict[str, str]:
    """``moved: {old_state: new_state}``: where conversations on older versions, in those states, go on."""
    if "moved" not in root or root["moved"] is None:
        return {}
    node = root["moved"]
    if not isinstance(node, CommentedMap):
        reader.fail(
            key_line(root, "moved"),
            f"`moved` should be a block of `old_state: new_state`, found {_show(node)}",
            "write each state of an older version that conversations may be in, and the state of this version "
            "where they go on",
        )
        return {}
    result: dict[str, str] = {}
    for old, new in node.items():
        line = key_line(node, old)
        if isinstance(new, bool) or not isinstance(new, (str, int)) or not str(new).strip():
            reader.fail(line, f"`moved` for `{old}` should name a state, found {_show(new)}", f"write `{old}: state`")
            continue
        target = str(new).strip()
        if steps and target not in steps:
            reader.fail(
                line,
                f"`moved` sends `{old}` to `{target}`, which is not a state of this flow",
                _did_you_mean(target, steps, f"the states are: {_listing(steps)}"),
            )
            continue
        result[str(old)] = target
    return result


def _parse_step(reader: _Reader, name: str, line: int, node: object, context: FlowContext) -> Step | None:
    where = f"state `{name}`"
    if not isinstance(node, CommentedMap):
        reader.fail(
            line,
            f"{where} should be a block of keys, found {_show(node)}",
            "indent its keys (ask, input, next, ...) under the state's name",
            name,
        )
        return None
    reader.known_keys(node, _STATE_KEYS, where, name)
    ask = reader.text(node, "ask", f"the question of {where}", name) if "ask" in node else None
    say = reader.text(node, "say", f"the `say` of {where}", name) if "say" in node else None
    hint = reader.text(node, "hint", f"the hint of {where}", name) if "hint" in node else None
    kind = reader.word(node, "input", where, name) or "none"
    known_kind = True
    if kind not in INPUT_KINDS:
        reader.fail(
            key_line(node, "input"),
            f"unknown input `{kind}` in {where}",
            _did_you_mean(kind, INPUT_KINDS, f"use one of: {', '.join(INPUT_KINDS)}"),
            name,
        )
        kind = "none"
        known_kind = False
    elif kind != "none" and ask is None and "ask" not in node:
        reader.fail(
            line,
            f"{where} waits for an answer ({kind}) but has no question",
            "add `ask: {" + ", ".join(f"{lang}: ..." for lang in reader.languages) + "}`",
            name,
        )
    elif kind == "none" and "ask" in node and "input" not in node:
        reader.fail(
            line,
            f"{where} asks a question but does not say what answer it expects",
            f"add `input:` with one of: {', '.join(INPUT_KINDS[:-1])}",
            name,
        )
    options = _parse_options(reader, node, where, name)
    options_from = reader.word(node, "options_from", where, name)
    if options and kind != "choice" and known_kind:
        reader.fail(
            key_line(node, "options"),
            f"{where} has options but its input is `{kind}`",
            "write `input: choice`, or remove the options",
            name,
        )
    if kind == "choice" and not options and options_from is None and "options" not in node:
        reader.fail(
            line,
            f"{where} is a choice without options",
            "add `options:` (key: {es: ..., en: ...}) or `options_from:` with a list such as "
            f"{_listing(context.option_sources)}",
            name,
        )
    if (
        options_from is not None
        and options_from not in context.option_sources
        and not context.list_fillers(options_from)
    ):
        known = {*context.option_sources, *(n for names in context.lists.values() for n in names)}
        reader.fail(
            key_line(node, "options_from"),
            f"unknown option list `{options_from}` in {where}",
            _did_you_mean(options_from, known, f"known lists are: {_listing(known)}"),
            name,
        )
    action = reader.word(node, "action", where, name)
    if action is not None and action not in context.actions:
        reader.fail(
            key_line(node, "action"),
            f"unknown action `{action}` in {where}",
            f"known actions are: {_listing(context.actions)}",
            name,
        )
    optional = reader.flag(node, "optional", where, name)
    if optional and kind not in OPTIONAL_KINDS and known_kind:
        reader.fail(
            key_line(node, "optional"),
            f"{where} is optional but its input is `{kind}`",
            f"only {', '.join(OPTIONAL_KINDS)} answers can be skipped; remove `optional`",
            name,
        )
    min_length = reader.length(node, "min_length", where, name)
    max_length = reader.length(node, "max_length", where, name)
    for key in ("min_length", "max_length"):
        if key in node and kind != "text":
            reader.fail(
                key_line(node, key),
                f"`{key}` in {where} only applies to text answers",
                "write `input: text`, or remove it",
                name,
            )
    if min_length is not None and max_length is not None and min_length > max_length:
        reader.fail(
            key_line(node, "min_length"),
            f"`min_length` ({min_length}) is more than `max_length` ({max_length}) in {where}",
            "make min_length the smaller one",
            name,
        )
    end = reader.flag(node, "end", where, name)
    goto = reader.word(node, "goto", where, name)
    call = reader.word(node, "call", where, name)
    nxt = _parse_next(reader, node, where, name)
    if call is not None and (end or goto is not None or kind != "none"):
        other = "`end: true`" if end else "`goto`" if goto is not None else "a question"
        reader.fail(
            key_line(node, "call"),
            f"{where} has `call` but also {other}",
            "a state with `call` runs the other flow, then goes on with its own `next`; keep only `call` and `next`",
            name,
        )
    if call is not None and "next" not in node:
        reader.fail(
            key_line(node, "call"),
            f"{where} calls `{call}` but has no `next`",
            "add `next: <state>`: where to go on when the called flow ends",
            name,
        )
    if nxt is not None and (end or goto is not None):
        reader.fail(
            key_line(node, "next"),
            f"{where} has `next` but also {'`end: true`' if end else '`goto`'}",
            "keep only one way out",
            name,
        )
    if nxt is None and goto is None and not end and "next" not in node and "end" not in node:
        reader.fail(line, f"{where} has no way out", "add `next: <state>`, `goto: <flow>`, or `end: true`", name)
    if end and goto is not None:
        reader.fail(key_line(node, "goto"), f"{where} has both `goto` and `end: true`", "keep only one", name)
    step = Step(
        name=name,
        line=line,
        ask=ask,
        say=say,
        input=kind,
        options=options,
        options_from=options_from,
        save=reader.word(node, "save", where, name),
        next=nxt,
        action=action,
        goto=goto,
        call=call,
        end=end,
        optional=optional,
        min_length=min_length,
        max_length=max_length,
        hint=hint,
    )
    if isinstance(nxt, Mapping) and known_kind:
        _check_branches(reader, step, key_line(node, "next") or line, context)
    return step


def _parse_options(reader: _Reader, node: CommentedMap, where: str, state: str) -> tuple[OptionSpec, ...]:
    value = node.get("options")
    if "options" not in node:
        return ()
    if not isinstance(value, CommentedMap) or not value:
        reader.fail(
            key_line(node, "options"),
            f"the options of {where} should be a block of keys with labels",
            "write each option as `key: {es: ..., en: ...}`",
            state,
        )
        return ()
    result: list[OptionSpec] = []
    for key in value:
        label = reader.text(value, key, f"option `{key}` of {where}", state)
        result.append(OptionSpec(str(key), label or {}))
    return tuple(result)


def _parse_next(
    reader: _Reader, node: CommentedMap, where: str, state: str
) -> str | Mapping[str, str] | tuple[Rule, ...] | None:
    if "next" not in node:
        return None
    value = node["next"]
    line = key_line(node, "next")
    if isinstance(value, CommentedSeq):
        return _parse_rules(reader, value, line, where, state)
    if isinstance(value, CommentedMap):
        result: dict[str, str] = {}
        for key, target in value.items():
            if isinstance(target, bool) or not isinstance(target, (str, int)) or not str(target).strip():
                reader.fail(
                    key_line(value, key),
                    f"`next` for answer `{key}` in {where} should name a state, found {_show(target)}",
                    "write `answer: state_name`",
                    state,
                )
                continue
            result[str(key)] = str(target).strip()
        return result or None
    if isinstance(value, bool) or not isinstance(value, (str, int)) or not str(value).strip():
        reader.fail(
            line,
            f"`next` in {where} should name a state, found {_show(value)}",
            "write `next: state_name`, or `next: {answer: state, ...}`",
            state,
        )
        return None
    return str(value).strip()


_RULE_FORM = "write `- if: {name: value}` and `then: state` for each rule, and `- else: state` last"


def _parse_rules(
    reader: _Reader, items: CommentedSeq, line: int | None, where: str, state: str
) -> tuple[Rule, ...] | None:
    """``next`` as a list of ``- if: {...}`` / ``then:`` rules ending with ``- else: state``."""
    rules: list[Rule] = []
    ok = True
    for index, item in enumerate(items):
        item_line = items.lc.item(index)[0] + 1
        last = index == len(items) - 1
        if not isinstance(item, CommentedMap):
            reader.fail(
                item_line, f"rule {index + 1} of `next` in {where} should be a block of keys", _RULE_FORM, state
            )
            ok = False
            continue
        reader.known_keys(item, ("if", "then", "else"), f"rule {index + 1} of `next` in {where}", state)
        if "else" in item:
            if "if" in item or "then" in item or not last:
                reader.fail(
                    item_line,
                    f"`else` in `next` of {where} must be alone and last",
                    "write `- else: state` as the last rule",
                    state,
                )
                ok = False
            target = _rule_target(reader, item, "else", where, state)
            if target is not None:
                rules.append(Rule((), target, item_line))
            continue
        if "if" not in item or "then" not in item:
            missing = "then" if "if" in item else "if"
            reader.fail(item_line, f"rule {index + 1} of `next` in {where} has no `{missing}`", _RULE_FORM, state)
            ok = False
            continue
        tests = _parse_tests(reader, item, where, state)
        target = _rule_target(reader, item, "then", where, state)
        if tests is None or target is None:
            ok = False
            continue
        rules.append(Rule(tests, target, item_line))
    if not items or "else" not in (items[-1] if isinstance(items[-1], CommentedMap) else {}):
        reader.fail(
            line,
            f"the rules of `next` in {where} do not end with `- else: state`",
            "add `- else: state` as the last rule, for when no `if` holds",
            state,
        )
        ok = False
    return tuple(rules) if ok or rules else None  # partial rules keep the graph checks honest


def _rule_target(reader: _Reader, item: CommentedMap, key: str, where: str, state: str) -> str | None:
    target = item[key]
    if isinstance(target, bool) or not isinstance(target, (str, int)) or not str(target).strip():
        reader.fail(
            key_line(item, key),
            f"`{key}` in `next` of {where} should name a state, found {_show(target)}",
            f"write `{key}: state_name`",
            state,
        )
        return None
    return str(target).strip()


def _parse_tests(reader: _Reader, item: CommentedMap, where: str, state: str) -> tuple[Check, ...] | None:
    condition = item["if"]
    line = key_line(item, "if")
    if not isinstance(condition, CommentedMap) or not condition:
        reader.fail(
            line,
            f"`if` in `next` of {where} should be a block of `name: value` tests, found {_show(condition)}",
            "write e.g. `if: {category: noise}`, `if: {resident: verified}` or `if: {age: {min: 65}}`",
            state,
        )
        return None
    tests: list[Check] = []
    for name, value in condition.items():
        test = _parse_test(reader, str(name), value, key_line(condition, name) or line, where, state)
        if test is None:
            return None
        tests.append(test)
    return tuple(tests)


def _parse_test(reader: _Reader, name: str, value: object, line: int | None, where: str, state: str) -> Check | None:
    scalar = (str, int, float)
    if name == RESIDENT:
        values = value if isinstance(value, CommentedSeq) else [value]
        if not values or any(v not in RESIDENT_VALUES for v in values):
            reader.fail(
                line,
                f"`resident` in `next` of {where} should be `verified` or `not_verified`, found {_show(value)}",
                "write `if: {resident: verified}`",
                state,
            )
            return None
        return Check(name, any_of=tuple(str(v) for v in values))
    if value is None:
        return Check(name, empty=True)
    if isinstance(value, CommentedMap):
        bounds = {str(k): v for k, v in value.items()}
        good = bool(bounds) and set(bounds) <= {"min", "max"}
        good = good and all(not isinstance(v, bool) and isinstance(v, (int, float)) for v in bounds.values())
        if not good:
            reader.fail(
                line,
                f"the test on `{name}` in `next` of {where} should be `{{min: number, max: number}}`, "
                f"found {_show(value)}",
                "write e.g. `{min: 65}` or `{min: 1, max: 10}`",
                state,
            )
            return None
        return Check(name, low=bounds.get("min"), high=bounds.get("max"))
    values = list(value) if isinstance(value, CommentedSeq) else [value]
    if not values or any(isinstance(v, bool) or not isinstance(v, scalar) for v in values):
        reader.fail(
            line,
            f"the test on `{name}` in `next` of {where} should be a value or a list of values, found {_show(value)}",
            "write e.g. `category: noise` or `category: [noise, water]`",
            state,
        )
        return None
    return Check(name, any_of=tuple(plain(v) for v in values))


def _check_branches(reader: _Reader, step: Step, line: int, context: FlowContext) -> None:
    """The keys of a ``next`` mapping must be answers the step can give."""
    assert isinstance(step.next, Mapping)
    keys = set(step.next)
    where = f"state `{step.name}`"
    if step.input == "yes_no":
        if keys != {"yes", "no"}:
            reader.fail(
                line,
                f"`next` of the yes/no question in {where} should have exactly `yes` and `no`, found {_listing(keys)}",
                "write `next: {yes: state, no: state}`",
                step.name,
            )
        return
    if step.input == "choice":
        source = context.option_sources.get(step.options_from) if step.options_from is not None else step.options
        if source is None:
            if step.options_from is not None and context.list_fillers(step.options_from):
                reader.fail(
                    line,
                    f"the options of {where} are only known when the bot runs (`{step.options_from}`), "
                    "so `next` cannot list them",
                    "write `next: state_name`; the answer is saved with `save:`",
                    step.name,
                )
            return  # else the unknown option list is reported already
        allowed = {o.key for o in source}
        for key in sorted(keys - allowed):
            reader.fail(
                line,
                f"`next` in {where} has `{key}`, which is not one of its options",
                _did_you_mean(key, allowed, f"the options are: {_listing(allowed)}"),
                step.name,
            )
        for key in sorted(allowed - keys):
            reader.fail(
                line, f"option `{key}` of {where} has no `next`", f"add `{key}: <state>` under `next`", step.name
            )
        return
    if step.action is not None:
        return
    reader.fail(
        line,
        f"`next` in {where} lists answers, but a {step.input} answer does not choose where to go",
        "write `next: state_name`",
        step.name,
    )


def _edges(step: Step) -> list[str]:
    if isinstance(step.next, str):
        return [step.next]
    if isinstance(step.next, Mapping):
        return list(step.next.values())
    if isinstance(step.next, tuple):
        return [rule.target for rule in step.next]
    return []


def _reachable(steps: Mapping[str, Step], origin: str) -> set[str]:
    """States reachable from ``origin`` in one or more moves."""
    seen: set[str] = set()
    todo = [t for t in _edges(steps[origin]) if t in steps]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        todo.extend(t for t in _edges(steps[name]) if t in steps)
    return seen


def _check_graph(
    reader: _Reader, root: CommentedMap, steps: Mapping[str, Step], start: str | None, next_lines: Mapping[str, int]
) -> None:
    dangling = False
    for step in steps.values():
        for target in _edges(step):
            if target not in steps:
                dangling = True
                reader.fail(
                    next_lines[step.name],
                    f"`next` in state `{step.name}` goes to `{target}`, which is not a state of this flow",
                    _did_you_mean(target, steps, f"the states are: {_listing(steps)}"),
                    step.name,
                )
    if start is None:
        return
    if start not in steps:
        reader.fail(
            key_line(root, "start"),
            f"`start` names `{start}`, which is not a state of this flow",
            _did_you_mean(start, steps, f"the states are: {_listing(steps)}"),
        )
        return
    if dangling:
        return  # a misspelt `next` would make every later state look unreachable: report the cause only
    reached = _reachable(steps, start) | {start}
    for step in steps.values():
        if step.name not in reached:
            reader.fail(
                step.line,
                f"state `{step.name}` can never be reached from `{start}`",
                "point a `next` at it, or remove it",
                step.name,
            )
    # A loop of states that never wait would make the bot talk to itself forever.
    for step in steps.values():
        if not step.waits and step.name in _reachable(steps, step.name):
            loop = {s for s in _reachable(steps, step.name) if step.name in _reachable(steps, s)}
            if all(not steps[s].waits for s in loop):
                reader.fail(
                    step.line,
                    f"state `{step.name}` is in a loop where no state waits for an answer",
                    "make one state of the loop ask a question, or end the loop",
                    step.name,
                )


def _check_lists(reader: _Reader, steps: Mapping[str, Step], context: FlowContext) -> None:
    """A run-time option list must be filled by an action of a state that can come before."""
    for step in steps.values():
        name = step.options_from
        if name is None or name in context.option_sources:
            continue
        fillers = context.list_fillers(name)
        if not fillers:
            continue  # reported as an unknown list
        if any(s.action in fillers and step.name in _reachable(steps, s.name) for s in steps.values()):
            continue
        reader.fail(
            step.line,
            f"the options of state `{step.name}` come from `{name}`, which no earlier state fills",
            f"add an earlier state with `action: {fillers[0]}`",
            step.name,
        )


_ANY = "*"
"""A name standing for "anything": what an unknown called flow saves (its `call` is reported instead)."""


def _saved_before(steps: Mapping[str, Step], context: FlowContext) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """The names each state saves (``save:`` or its action's provides), and those saved before each state."""
    provided: dict[str, set[str]] = {}
    for step in steps.values():
        names = set(context.actions.get(step.action, ())) if step.action else set()
        if step.save:
            names.add(step.save)
        if step.call:
            # a flow that does not exist is reported once, at its `call`; it could save anything
            names |= context.called.get(step.call, frozenset({_ANY}))
        provided[step.name] = names
    before: dict[str, set[str]] = {name: set() for name in steps}
    for name in steps:
        for later in _reachable(steps, name):
            before[later] |= provided[name]
    return provided, before


def _check_rules(reader: _Reader, steps: Mapping[str, Step], context: FlowContext, lines: Mapping[str, int]) -> None:
    """Each ``if`` tests a name saved by then, against values that answer can have."""
    provided, before = _saved_before(steps, context)
    answers: dict[str, set[str] | None] = {}  # saved name -> the keys it can hold (None: any value)
    for step in steps.values():
        if step.save is None:
            continue
        keys: set[str] | None = None
        if step.input == "yes_no":
            keys = {"yes", "no"}
        elif step.input == "choice":
            source = context.option_sources.get(step.options_from) if step.options_from else step.options
            keys = {o.key for o in source} if source is not None else None
        known = answers.get(step.save, set())
        answers[step.save] = None if keys is None or known is None else known | keys
    for step in steps.values():
        if not isinstance(step.next, tuple):
            continue
        known_names = before[step.name] | provided[step.name]
        for rule in step.next:
            line = rule.line or lines.get(step.name, step.line)
            for test in rule.tests:
                if test.name == RESIDENT or _ANY in known_names:
                    continue
                if test.name not in known_names:
                    everything = {n for names in provided.values() for n in names} | {RESIDENT}
                    reader.fail(
                        line,
                        f"`next` in state `{step.name}` tests `{test.name}`, which no earlier state saves",
                        _did_you_mean(test.name, everything, f"test one of: {_listing(known_names | {RESIDENT})}"),
                        step.name,
                    )
                    continue
                allowed = answers.get(test.name)
                for value in test.any_of:
                    if allowed is not None and value not in allowed:
                        reader.fail(
                            line,
                            f"`next` in state `{step.name}` tests `{test.name}` for `{value}`, "
                            "which that answer can never be",
                            _did_you_mean(value, allowed, f"it can be: {_listing(allowed)}"),
                            step.name,
                        )


def _check_placeholders(
    reader: _Reader, steps: Mapping[str, Step], context: FlowContext, lines: Mapping[tuple[str, str], int]
) -> None:
    provided, before = _saved_before(steps, context)
    for step in steps.values():
        own = set(context.actions.get(step.action, ())) if step.action else set()
        known = set(context.builtins) | own | before[step.name]
        texts = (
            ("question", "ask", step.ask, ()),
            ("say", "say", step.say, ()),
            ("hint", "hint", step.hint, _HINT_PARAMS),
        )
        for label, key, text, extra in texts:
            line = lines.get((step.name, key), step.line)
            for lang, value in (text or {}).items():
                used, ok = _placeholders(value)
                if not ok:
                    reader.fail(
                        line,
                        f"the {label} of state `{step.name}` ({lang}) has an unmatched `{{` or `}}`",
                        "write {name} for a saved answer, or {{ and }} for the braces themselves",
                        step.name,
                    )
                    continue
                for name in used:
                    if name in known or name in extra or _ANY in known:
                        continue
                    everything = set(context.builtins) | {n for p in provided.values() for n in p}
                    reader.fail(
                        line,
                        f"the {label} of state `{step.name}` ({lang}) uses `{{{name}}}`, which no earlier state saves",
                        _did_you_mean(
                            name,
                            everything,
                            f"save it first with `save: {name}` in an earlier state, or use one of: {_listing(known)}",
                        ),
                        step.name,
                    )


def saved_names(flow: Flow, context: FlowContext) -> set[str]:
    """Every name a flow saves: ``save:`` and its actions' provides."""
    names: set[str] = set()
    for step in flow.states.values():
        if step.save:
            names.add(step.save)
        if step.action:
            names |= set(context.actions.get(step.action, ()))
    return names


def _call_loops(links: Sequence[tuple[str, str, str, int]], calls: Mapping[str, set[str]]) -> list[FlowError]:
    """A ``call`` that can come back to the calling flow would never end."""
    errors: list[FlowError] = []
    for shown, source, target, line in links:
        if not target.startswith("call:"):
            continue
        seen: set[str] = set()
        todo = [target.removeprefix("call:")]
        while todo:
            name = todo.pop()
            if name in seen:
                continue
            seen.add(name)
            todo.extend(calls.get(name, ()))
        if source in seen:
            errors.append(
                FlowError(
                    shown,
                    line,
                    f"`call: {target.removeprefix('call:')}` comes back to `{source}`, which would never end",
                    "a flow cannot call itself, directly or through the flows it calls",
                )
            )
    return errors


def load_messages(path: Path, languages: Sequence[str]) -> Mapping[str, Text]:
    """Read ``messages.yaml`` (``messages: {key: {es: ..., en: ...}}``).

    Every key of :data:`REQUIRED_MESSAGES` must be there in every language, and
    no other key. Raises :class:`FlowErrors` with every problem.
    """
    shown = str(path)
    reader = _Reader(shown, tuple(languages))
    try:
        root = read_yaml_text(decode_utf8(path.read_bytes()))
    except OSError as error:
        raise FlowErrors(
            [
                FlowError(
                    shown,
                    None,
                    f"cannot read the file ({error.strerror})",
                    "the engine's wording must be in flows/messages.yaml",
                )
            ]
        ) from None
    except YamlProblem as problem:
        raise FlowErrors([FlowError(shown, problem.line, problem.problem, problem.hint)]) from None
    node = root.get("messages") if isinstance(root, CommentedMap) else None
    if not isinstance(root, CommentedMap) or not isinstance(node, CommentedMap):
        raise FlowErrors(
            [
                FlowError(
                    shown,
                    node_line(root) or 1,
                    "the file should have a `messages:` block",
                    "write `messages:` and, indented under it, `key: {es: ..., en: ...}`",
                )
            ]
        )
    reader.known_keys(root, ("messages",), "the messages file", None)
    result: dict[str, Text] = {}
    for key in node:
        if key not in REQUIRED_MESSAGES:
            reader.fail(
                key_line(node, key),
                f"unknown message `{key}`",
                _did_you_mean(str(key), REQUIRED_MESSAGES, "remove it; the engine never uses it"),
            )
            continue
        text = reader.text(node, key, f"message `{key}`", None)
        if text is not None:
            result[str(key)] = text
    for key in REQUIRED_MESSAGES:
        if key not in node:
            reader.fail(
                key_line(root, "messages"),
                f"message `{key}` is missing",
                f"add `{key}: " + "{" + ", ".join(f"{lang}: ..." for lang in languages) + "}`",
            )
    if reader.errors:
        raise FlowErrors(reader.errors)
    return result


def load_flows(directory: Path, context: FlowContext, main: str = "main_menu") -> FlowSet:
    """Load every flow of ``directory`` (each ``*.yaml`` but :data:`NOT_FLOWS`, and the
    parts in ``directory/parts``) and the messages.

    Besides each file's own checks, every ``goto`` must name a flow of the
    directory (not a part), every ``call`` a flow or a part, no flow may call
    itself through others, and the ``main`` flow must exist. Raises
    :class:`FlowErrors` with every problem of every file.
    """
    errors: list[FlowError] = []
    flows: dict[str, Flow] = {}
    links: list[tuple[str, str, str, int]] = []  # (file, flow name, target, line)
    files = sorted(p for p in directory.glob("*.yaml") if p.name not in NOT_FLOWS)
    parts = sorted((directory / PARTS_DIR).glob("*.yaml")) if (directory / PARTS_DIR).is_dir() else []
    names = {p.stem for p in files}
    part_names = {p.stem for p in parts}
    for clash in sorted(names & part_names):
        errors.append(
            FlowError(
                str(directory / PARTS_DIR / f"{clash}.yaml"),
                None,
                f"the part `{clash}` has the same name as the flow {clash}.yaml",
                "rename one of them",
            )
        )
    texts: list[tuple[Path, str, bool, object]] = []
    for file, part in [*((f, False) for f in files), *((f, True) for f in parts)]:
        try:
            text = decode_utf8(file.read_bytes())
        except YamlProblem as problem:
            errors.append(FlowError(str(file), problem.line, problem.problem, problem.hint))
            continue
        except OSError as error:
            errors.append(FlowError(str(file), None, f"cannot read the file ({error.strerror})"))
            continue
        try:
            texts.append((file, text, part, read_yaml_text(text)))
        except YamlProblem:
            texts.append((file, text, part, None))  # _parse reports it
    # A first look learns what each flow saves, so that a flow may use {name} saved by a flow it calls.
    called: dict[str, frozenset[str]] = {}
    for file, text, part, root in texts:
        first, _, _ = _parse(text, str(file), context, part, root)
        if first is not None:
            called[first.name] = frozenset(saved_names(first, context))
    context = replace(context, called=called)
    for file, text, part, root in texts:
        shown = str(file)
        flow, problems, targets = _parse(text, shown, context, part, root)
        errors.extend(problems)
        links.extend((shown, file.stem, target, line) for target, line in targets)
        if flow is not None:
            flows[flow.name] = flow
    calls: dict[str, set[str]] = {}
    for shown, source, target, line in links:
        is_call = target.startswith("call:")
        target = target.removeprefix("call:")
        if is_call:
            calls.setdefault(source, set()).add(target)
        if target in names or (is_call and target in part_names):
            continue
        if target in part_names:
            errors.append(
                FlowError(
                    shown, line, f"`goto` names `{target}`, which is a part", f"write `call: {target}` and a `next`"
                )
            )
            continue
        known = names | part_names if is_call else names
        errors.append(
            FlowError(
                shown,
                line,
                f"`{'call' if is_call else 'goto'}` names the flow `{target}`, which does not exist",
                _did_you_mean(target, known, f"the flows are: {_listing(known)}"),
            )
        )
    errors.extend(_call_loops(links, calls))
    if main not in names:
        errors.append(
            FlowError(
                str(directory),
                None,
                f"the main flow `{main}` is missing",
                f"add {main}.yaml to {directory}"
                + (f" ({_did_you_mean(main, names, '')})" if _closest(main, names) else ""),
            )
        )
    messages: Mapping[str, Text] = {}
    try:
        messages = load_messages(directory / MESSAGES_FILE, context.languages)
    except FlowErrors as problem:
        errors.extend(problem.errors)
    if errors:
        raise FlowErrors(errors)
    return FlowSet(flows=flows, messages=messages)
