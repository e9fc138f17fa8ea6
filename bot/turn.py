"""What the bot does with one message: global words, answers, entering states.

A :class:`Turn` works on a :class:`~bot.engine.ConversationState` and
collects :class:`~bot.outbox.Reply` objects; it never commits. The state
machine (:mod:`bot.machine`) decides where an answer leads; entering a state
runs its action, says its text, follows ``goto`` to another flow, ends the
flow (back to the main menu), or stops to ask its question.

Saved answers live in ``conversation.data``:
``answers`` (raw values), ``shown`` (their display text, in order),
``history`` (the waiting states passed, for "back"), ``pending``
(a question of the engine's own, such as which language), ``lists`` (option
lists actions filled) and ``stack`` (where to go on when a flow started with
``call:`` ends: the calling flow, version and state). A called flow shares the
caller's answers, so what it saves is there for the caller's later states.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection

from bot import account, handoff
from bot.actions import ACTIONS, ActionContext
from bot.answers import MAX_TEXT, Accepted, Rejected, options_for, read_answer
from bot.flows import OptionSpec, Step
from bot.handoff import MODE_BOT, MODE_WAITING
from bot.machine import CompiledFlow
from bot.messages import InboundMessage, Option
from bot.outbox import Reply
from bot.relay import Relay
from bot.templates import pick, render
from bot.words import Command

if TYPE_CHECKING:
    from bot.engine import ConversationState, Engine

__all__ = ["FlowBroken", "Turn"]

log = logging.getLogger(__name__)

MAX_ENTRIES = 32  # states entered in one turn before we call it a loop
MAX_CALLS = 8  # flows called inside one another (``call:``); validation forbids loops, this is a guard


class FlowBroken(Exception):
    """The flow cannot go on (no transition for an answer, a loop...). The turn recovers to the menu."""


class Turn:
    """The bot's answer to one message."""

    def __init__(self, engine: Engine, connection: Connection, conversation: ConversationState) -> None:
        self.engine = engine
        self.connection = connection
        self.conversation = conversation
        self.replies: list[Reply] = []
        self._prefix: list[str] = []
        data = conversation.data
        data.setdefault("answers", {})
        data.setdefault("shown", {})
        data.setdefault("history", [])
        data.setdefault("pending", None)
        data.setdefault("lists", {})
        data.setdefault("stack", [])

    # -- what the bot says -------------------------------------------------

    @property
    def language(self) -> str:
        return self.conversation.language

    def text(self, texts: Any, **params: object) -> str:
        """A flow text in the resident's language with saved answers, ``{town}``, ``{summary}`` and ``params``."""
        values: dict[str, object] = {"town": self.engine.config.town_name, "summary": self._summary()}
        values.update(self.conversation.data["shown"])
        values.update(params)
        return render(pick(texts, self.language, self.engine.config.default_language), values)

    def message(self, key: str, **params: object) -> str:
        texts = self.engine.catalog.snapshot.flows.messages.get(key)
        if not texts:
            log.error("wording %r is missing from messages.yaml", key)
            return key
        values: dict[str, object] = {"town": self.engine.config.town_name}
        values.update(params)
        return render(pick(texts, self.language, self.engine.config.default_language), values)

    def say(self, text: str) -> None:
        """Queue text to go out with the next reply (joined into one message)."""
        if text:
            self._prefix.append(text)

    def flush(self, options: tuple[Option, ...] = (), expects: str | None = None, question: str = "") -> None:
        parts = [*self._prefix, question] if question else list(self._prefix)
        self._prefix.clear()
        text = "\n\n".join(part for part in parts if part)
        if text or options:
            self.replies.append(Reply(text=text, options=options, expects=expects))

    def _summary(self) -> str:
        data = self.conversation.data
        answers = data["answers"]
        return "\n".join(
            f"• {shown}" for name, shown in data["shown"].items() if shown and answers.get(name) is not None
        )

    # -- where we are --------------------------------------------------------

    @property
    def flow(self) -> CompiledFlow:
        return self.engine.catalog.get(self.conversation.flow, self.conversation.flow_version, self.connection)

    @property
    def step(self) -> Step:
        return self.flow.flow.states[self.conversation.state]

    def options(self, step: Step, language: str | None = None) -> tuple[Option, ...]:
        return options_for(
            step, language or self.language, self._sources(step), self.engine.catalog.snapshot.flows.messages
        )

    def _sources(self, step: Step) -> Mapping[str, tuple[OptionSpec, ...]]:
        """config.yaml's option lists, or the run-time list an action filled for this step."""
        name = step.options_from
        if name is None or name in self.engine.option_sources:
            return self.engine.option_sources
        stored = self.conversation.data["lists"].get(name) or []
        return {name: tuple(OptionSpec(key=str(item["key"]), label=dict(item["label"])) for item in stored)}

    def ask(self) -> None:
        """Ask the current state's question again (with whatever was said before it)."""
        step = self.step
        if self.conversation.data.get("pending") == "language":
            self._ask_language()
            return
        if not step.waits or step.ask is None:
            self.flush()
            return
        self.flush(self.options(step), step.input, self.text(step.ask))

    # -- the turn ------------------------------------------------------------------

    def handle(self, message: InboundMessage) -> None:
        """Answer ``message``; leaves replies in :attr:`replies`."""
        conversation = self.conversation
        try:
            if conversation.new:
                self.say(self.message("greeting"))
                self.enter(conversation.state)
                return
            self._follow_moves()
            if conversation.data.get("pending") in account.PENDING and account.answer(self, message):
                return
            command = None if message.choice else self.engine.catalog.snapshot.words.match(message.text)
            if command is not None and command.name in account.ACCOUNT_COMMANDS:
                account.command(self, command, message)
                return
            if self.refuse_unverified():
                return
            if conversation.data.get("pending") == "language":
                self._answer_language(message)
                return
            if command is not None and command.name == "person" and self._person_flow() is None:
                command = None  # the town has no flow for it: an ordinary answer
            if command is not None:
                self._command(command)
                return
            if self._is_empty(message):
                if message.unsupported:
                    self.say(self.message("unsupported_content"))
                self.ask()
                return
            self._answer(message)
        except FlowBroken as error:
            log.error(
                "flow %s@%s broke in state %s: %s",
                conversation.flow,
                conversation.flow_version,
                conversation.state,
                error,
            )
            self._prefix.clear()
            self.replies.clear()
            self.say(self.message("error_apology"))
            self._restart()

    def _follow_moves(self) -> None:
        """A conversation on an older version goes on in the current one if its flow's ``moved`` says where."""
        conversation = self.conversation
        try:
            current = self.engine.catalog.current(conversation.flow)
        except KeyError:
            return  # the flow was removed: the pinned version carries on
        if current.version == conversation.flow_version or conversation.state not in current.flow.moved:
            return
        old = conversation.flow_version
        conversation.flow_version = current.version
        conversation.state = current.flow.moved[conversation.state]
        for entry in conversation.data["history"]:
            if entry["flow"] == conversation.flow and entry["version"] == old and entry["state"] in current.flow.moved:
                entry["version"] = current.version
                entry["state"] = current.flow.moved[entry["state"]]

    @staticmethod
    def _is_empty(message: InboundMessage) -> bool:
        """Nothing the resident wrote: a "where were we?" nudge (``start``) or content we cannot read.

        Blank text is not empty here: it is a wrong answer, and gets the question's hint.
        """
        return message.text is None and not (message.choice or message.photos or message.location)

    def _answer(self, message: InboundMessage) -> None:
        step = self.step
        if not step.waits:
            self.enter(step.name)
            return
        options = self.options(step)
        result = read_answer(step, options, message, self.language, self.engine.today())
        if not isinstance(result, Accepted) and step.input == "choice":
            result = self._choice_in_other_language(step, options, message, result)
        if not isinstance(result, Accepted):
            params: dict[str, object] = {"min": step.min_length or 0, "max": step.max_length or MAX_TEXT}
            params.update(result.params)
            hint = self.text(step.hint, **params) if step.hint else self.message(result.hint, **params)
            self.say(hint)
            self.ask()
            return
        data = self.conversation.data
        history_entry = {
            "flow": self.conversation.flow,
            "version": self.conversation.flow_version,
            "state": step.name,
            "save": step.save,
            "stack": [dict(frame) for frame in data["stack"]],
        }
        if step.save:
            data["answers"][step.save] = result.value
            data["shown"].pop(step.save, None)
            data["shown"][step.save] = result.display
        data["history"].append(history_entry)
        self.move(step.name, result.branch)

    def _choice_in_other_language(
        self, step: Step, options: tuple[Option, ...], message: InboundMessage, rejected: Accepted | Rejected
    ) -> Accepted | Rejected:
        """A resident may name an option in another configured language ("streetlight" while in Spanish)."""
        for language in self.engine.config.languages:
            if language == self.language:
                continue
            others = self.options(step, language)
            found = read_answer(step, others, message, language, self.engine.today())
            if isinstance(found, Accepted):
                display = next((o.label for o in options if o.key == found.value), found.display)
                return Accepted(found.value, display, found.branch)
        return rejected

    def move(self, state: str, branch: str | None) -> None:
        target = self._advance(state, branch)
        if target is None:
            raise FlowBroken(f"no `next` from {state!r} for answer {branch!r}")
        self.enter(target)

    def _advance(self, state: str, branch: str | None) -> str | None:
        return self.flow.advance(state, branch, self.conversation.data["answers"], self.conversation.verified)

    def enter(self, state: str) -> None:
        """Enter ``state`` and keep going until a state waits for an answer or the flow ends."""
        for _ in range(MAX_ENTRIES):
            self.conversation.state = state
            step = self.step
            branch: str | None = None
            if step.action:
                branch = self._run_action(step.action)
            if step.say:
                self.say(self.text(step.say))
            if step.call:
                self._call(step.call)  # into the called flow, or to the menu if the resident may not
                state = self.conversation.state
                continue
            if step.goto:
                other = self.engine.catalog.current(step.goto)
                if self._may_start(other):
                    self._start_flow(other)
                state = self.conversation.state
                continue
            if step.waits:
                self.ask()
                return
            if step.end:
                self._finish()
                return
            target = self._advance(step.name, branch)
            if target is None:
                raise FlowBroken(f"state {step.name!r} does not wait, does not end and has no `next`")
            state = target
        raise FlowBroken(f"more than {MAX_ENTRIES} states entered in one turn; is there a loop?")

    def _run_action(self, name: str) -> str | None:
        spec = ACTIONS.get(name)
        if spec is None:
            raise FlowBroken(f"unknown action {name!r}")
        conversation = self.conversation
        result = spec.run(
            ActionContext(
                connection=self.connection,
                config=self.engine.config,
                channel=conversation.channel,
                chat_id=conversation.chat_id,
                conversation_id=conversation.id,
                resident_id=conversation.resident_id,
                language=self.language,
                answers=dict(conversation.data["answers"]),
                flow=conversation.flow,
                messages=self.engine.catalog.snapshot.flows.messages,
            )
        )
        conversation.data["answers"].update(result.values)
        for key, value in result.values.items():
            conversation.data["shown"][key] = result.shown.get(key, str(value))
        for key, specs in result.lists.items():
            conversation.data["lists"][key] = [{"key": spec.key, "label": dict(spec.label)} for spec in specs]
        return result.branch

    def _call(self, name: str) -> None:
        """Start flow ``name`` inside this one, or go to the menu if the resident may not start it."""
        conversation = self.conversation
        other = self.engine.catalog.current(name)
        if not self._may_start(other):
            return
        stack = conversation.data["stack"]
        if len(stack) >= MAX_CALLS:
            raise FlowBroken(f"more than {MAX_CALLS} flows called inside one another")
        stack.append({"flow": conversation.flow, "version": conversation.flow_version, "state": conversation.state})
        conversation.flow = other.name
        conversation.flow_version = other.version
        conversation.state = other.flow.start

    def _return(self) -> bool:
        """A called flow ended: go on with the caller's ``next``. False when no flow called this one."""
        conversation = self.conversation
        stack = conversation.data["stack"]
        if not stack:
            return False
        frame = stack.pop()
        conversation.flow = frame["flow"]
        conversation.flow_version = frame["version"]
        conversation.state = frame["state"]
        target = self._advance(frame["state"], None)
        if target is None:
            raise FlowBroken(f"state {frame['state']!r} called a flow but has no `next` to go on with")
        self.enter(target)
        return True

    def _may_start(self, compiled: CompiledFlow) -> bool:
        """Whether this resident may start ``compiled``; if not, they are told how to verify and go to the menu.

        Nobody acts in another's name: a flow with ``requires: verified`` is
        only for a channel account linked to a resident the town hall checked.
        """
        if compiled.flow.requires != "verified" or self.conversation.verified:
            return True
        self.say(self.message("requires_verified"))
        self.conversation.data["history"] = []
        self._start_flow(self.engine.catalog.main)
        return False

    def refuse_unverified(self) -> bool:
        """Leave a flow this resident may not be in (any more), to the menu; True if so.

        A conversation can be in such a flow without having been let in by
        :meth:`_may_start`: the account was unlinked meanwhile, the flow's new
        version (reached through ``moved``) or the current one now requires it.
        """
        conversation = self.conversation
        if conversation.verified:
            return False
        catalog = self.engine.catalog
        # the flow we are in, and the flows that called it (a part inside a verified procedure)
        pinned = [(conversation.flow, conversation.flow_version)]
        pinned += [(frame["flow"], frame["version"]) for frame in conversation.data["stack"]]
        required = False
        for name, version in pinned:
            required = required or catalog.get(name, version, self.connection).flow.requires == "verified"
            try:
                required = required or catalog.current(name).flow.requires == "verified"
            except KeyError:
                pass  # the flow was removed: its pinned version decides
        if not required:
            return False
        self.say(self.message("requires_verified"))
        conversation.data["history"] = []
        conversation.data["pending"] = None
        self._start_flow(self.engine.catalog.main)
        self.enter(conversation.state)
        return True

    def resume(self) -> None:
        """Ask the current question again, unless this resident may not be in this flow (then the menu)."""
        if not self.refuse_unverified():
            self.ask()

    def restart(self) -> None:
        """Forget where we were and show the main menu."""
        self._restart()

    def _start_flow(self, compiled: CompiledFlow) -> None:
        conversation = self.conversation
        conversation.data["stack"] = []
        conversation.flow = compiled.name
        conversation.flow_version = compiled.version
        conversation.state = compiled.flow.start
        conversation.data["answers"] = {}
        conversation.data["shown"] = {}
        conversation.data["lists"] = {}

    def _finish(self) -> None:
        """The flow ended: back to the flow that called it, or to the main menu forgetting its answers."""
        if self._return():
            return
        self.conversation.data["history"] = []
        self._start_flow(self.engine.catalog.main)
        self.enter(self.conversation.state)

    def _restart(self) -> None:
        self.conversation.data["history"] = []
        self.conversation.data["pending"] = None
        self._start_flow(self.engine.catalog.main)
        self.enter(self.conversation.state)

    # -- global words --------------------------------------------------------------

    def _command(self, command: Command) -> None:
        data = self.conversation.data
        if command.name == "help":
            step = self.step
            if step.hint:
                self.say(self.text(step.hint))
            self.say(self.message("help"))
            self.ask()
        elif command.name == "menu":
            data["history"] = []
            self._start_flow(self.engine.catalog.main)
            self.enter(self.conversation.state)
        elif command.name == "cancel":
            self._cancel()
        elif command.name == "back":
            self._back()
        elif command.name == "person":
            flow = self._person_flow()
            if flow is not None:
                data["history"] = []
                if self._may_start(flow):
                    self._start_flow(flow)
                self.enter(self.conversation.state)
        elif command.name == "emergency":
            # 112 at once, then the same question: nothing the resident answered is lost
            self.say(self.message("emergency"))
            self.ask()
        elif command.name == "language":
            if command.language:
                self._set_language(command.language)
            else:
                data["pending"] = "language"
                self._ask_language()

    def _cancel(self) -> None:
        """Leave the flow; at the menu, while waiting for a person, withdraw that request instead."""
        conversation = self.conversation
        waiting = conversation.mode == MODE_WAITING
        at_menu = conversation.flow == self.engine.catalog.main.name and not conversation.data["stack"]
        if waiting and at_menu:
            handoff.withdraw(self.connection, conversation.id, notify=Relay(self.engine.wording()))
            conversation.mode = MODE_BOT
            self.say(self.message("handoff_withdrawn"))
        else:
            self.say(self.message("cancelled"))
            if waiting:
                self.say(self.message("handoff_still_waiting"))
        self._restart()

    def _person_flow(self) -> CompiledFlow | None:
        """The flow the word "persona" starts (config.yaml ``handoff.person_flow``, else ``talk_to``)."""
        name = self.engine.config.handoff.person_flow or "talk_to"
        return self.engine.catalog.snapshot.compiled.get(name)

    def _back(self) -> None:
        data = self.conversation.data
        if not data["history"]:
            self.say(self.message("nothing_to_go_back"))
            self.ask()
            return
        entry = data["history"].pop()
        conversation = self.conversation
        stack = entry.get("stack", [])
        if entry["flow"] != conversation.flow or entry["version"] != conversation.flow_version:
            if not stack and not data["stack"]:  # another flow, not one that called or was called: start afresh
                data["answers"] = {}
                data["shown"] = {}
            conversation.flow = entry["flow"]
            conversation.flow_version = entry["version"]
        data["stack"] = [dict(frame) for frame in stack]
        if entry.get("save"):
            data["answers"].pop(entry["save"], None)
            data["shown"].pop(entry["save"], None)
        conversation.state = entry["state"]
        self.resume()

    def _language_options(self) -> tuple[Option, ...]:
        names = {"es": "Español", "en": "English"}
        return tuple(Option(key=code, label=names.get(code, code)) for code in self.engine.config.languages)

    def _ask_language(self) -> None:
        self.flush(self._language_options(), "choice", self.message("language_ask"))

    def _answer_language(self, message: InboundMessage) -> None:
        options = self._language_options()
        chosen = message.choice if message.choice in {o.key for o in options} else None
        text = (message.text or "").strip()
        if chosen is None and text.isdigit() and 1 <= int(text) <= len(options):
            chosen = options[int(text) - 1].key
        if chosen is None:
            chosen = self.engine.catalog.snapshot.words.language_named(text)
        if chosen is None:
            command = self.engine.catalog.snapshot.words.match(text)
            if command is not None and command.name != "language":
                self.conversation.data["pending"] = None
                self._command(command)
                return
            self.say(self.message("hint_choice"))
            self._ask_language()
            return
        self._set_language(chosen)

    def _set_language(self, language: str) -> None:
        self.conversation.data["pending"] = None
        if language in self.engine.config.languages:
            self.conversation.language = language
        self.say(self.message("language_changed"))
        self.ask()
