"""bot.flows: every check names the file, the line and what to do."""

from __future__ import annotations

import hashlib
import shutil
import textwrap
from pathlib import Path

import pytest

from bot.actions import ACTIONS
from bot.catalog import flow_context
from bot.config import Config
from bot.errors import FlowError, FlowErrors
from bot.flows import (
    REQUIRED_MESSAGES,
    Flow,
    FlowContext,
    OptionSpec,
    load_flows,
    load_messages,
    parse_flow,
)

FLOWS_DIR = Path(__file__).resolve().parents[2] / "flows"
PATH = "flows/demo.yaml"
CONTEXT = FlowContext(
    languages=("es", "en"),
    option_sources={
        "categories": (
            OptionSpec("streetlight", {"es": "Alumbrado", "en": "Street lighting"}),
            OptionSpec("cleaning", {"es": "Limpieza", "en": "Cleaning"}),
            OptionSpec("water", {"es": "Agua", "en": "Water"}),
        ),
        "topics": (OptionSpec("news", {"es": "Noticias", "en": "News"}),),
        "activities": (OptionSpec("summer_school", {"es": "Escuela de verano", "en": "Summer school"}),),
        "departments": (OptionSpec("alcaldia", {"es": "Alcaldía", "en": "Mayor's office"}),),
        "people": (OptionSpec("mayor", {"es": "Ana Pérez — Alcaldesa", "en": "Ana Pérez — Mayor"}),),
    },
    actions={name: spec.provides for name, spec in ACTIONS.items()},
)

GOOD = """\
flow: demo
title: {es: Demo, en: Demo}
start: category
states:
  category:
    ask: {es: ¿Qué pasa?, en: What is it?}
    input: choice
    options:
      light: {es: Luz, en: Light}
      on: {es: Encendido, en: On}
    save: category
    next: {light: confirm, on: confirm}
  confirm:
    ask: {es: "¿Enviamos {category}? {summary}", en: "Send {category}? {summary}"}
    input: yes_no
    next: {yes: submit, no: cancelled}
  submit:
    action: create_service_request
    say: {es: "Aviso {ticket} en {town}", en: "Report {ticket} in {town}"}
    end: true
  cancelled:
    say: {es: Descartado, en: Discarded}
    end: true
"""


def parse(text: str, path: str = PATH) -> Flow:
    return parse_flow(textwrap.dedent(text), path, CONTEXT)


def problems(text: str, path: str = PATH) -> list[FlowError]:
    with pytest.raises(FlowErrors) as caught:
        parse(text, path)
    return list(caught.value.errors)


def only(text: str, path: str = PATH) -> FlowError:
    found = problems(text, path)
    assert len(found) == 1, "\n".join(str(e) for e in found)
    return found[0]


def test_good_flow_parses_into_steps_in_file_order() -> None:
    flow = parse(GOOD)
    assert flow.name == "demo"
    assert flow.start == "category"
    assert flow.requires is None
    assert list(flow.states) == ["category", "confirm", "submit", "cancelled"]
    assert flow.states["category"].line == 5
    assert flow.states["category"].waits
    assert not flow.states["submit"].waits
    assert flow.version == hashlib.sha256(GOOD.encode()).hexdigest()[:12]
    assert flow.source == GOOD
    assert flow.title == {"es": "Demo", "en": "Demo"}


def test_yes_no_on_stay_words() -> None:
    flow = parse(GOOD)
    assert flow.states["confirm"].next == {"yes": "submit", "no": "cancelled"}
    assert [o.key for o in flow.states["category"].options] == ["light", "on"]
    assert flow.states["category"].next == {"light": "confirm", "on": "confirm"}


def test_shipped_flows_load_cleanly(config: Config) -> None:
    flow_set = load_flows(FLOWS_DIR, flow_context(config))
    assert {"main_menu", "report_incident"} <= set(flow_set.flows)
    assert set(flow_set.messages) == set(REQUIRED_MESSAGES)
    report = flow_set.flows["report_incident"]
    assert list(report.states) == [
        "category",
        "description",
        "photo",
        "place",
        "nearby",
        "same",
        "follow",
        "confirm",
        "submit",
        "cancelled",
    ]
    assert report.states["photo"].optional
    assert report.states["confirm"].next == {"yes": "submit", "no": "cancelled"}
    assert flow_set.flows["main_menu"].states["go_report"].goto == "report_incident"
    for text in flow_set.messages.values():
        assert set(text) == {"es", "en"}


def test_yaml_syntax_error_has_line() -> None:
    error = only("flow: demo\nstart: a\nstates:\n  a: {say: [unclosed\n")
    assert error.path == PATH
    assert error.line is not None and error.line >= 4
    assert "YAML syntax error" in error.problem


def test_error_prints_file_line_problem_and_fix() -> None:
    error = only(GOOD.replace("    input: yes_no\n", "    input: yes_or_no\n"))
    assert str(error) == (f"{PATH}:15: unknown input `yes_or_no` in state `confirm` — did you mean `yes_no`?")
    assert error.state == "confirm"


def test_a_misspelt_input_on_an_optional_question_is_one_problem() -> None:
    text = GOOD.replace(
        "  confirm:\n",
        "  photo:\n    ask: {es: ¿Foto?, en: Photo?}\n    input: foto\n"
        "    optional: true\n    next: confirm\n  confirm:\n",
    ).replace("next: {light: confirm, on: confirm}", "next: {light: photo, on: confirm}")
    assert only(text).problem == "unknown input `foto` in state `photo`"


def test_unknown_key_at_top_suggests_closest() -> None:
    error = only(GOOD.replace("start: category", "start: category\ntittle: {es: x, en: x}"))
    assert (error.line, error.problem) == (4, "unknown key `tittle` in the flow")
    assert error.hint == "did you mean `title`?"


def test_unknown_key_in_state_suggests_closest() -> None:
    error = only(GOOD.replace("    save: category\n", "    save: category\n    sav: x\n"))
    assert error.line == 12
    assert error.problem == "unknown key `sav` in state `category`"
    assert error.hint == "did you mean `save`?"


def test_missing_flow_start_states() -> None:
    found = problems("title: {es: a, en: a}\n")
    wording = [e.problem for e in found]
    assert wording == ["the flow has no `flow:` name", "the flow has no `start:` state", "the flow has no `states:`"]
    assert all(e.line == 1 and e.path == PATH for e in found)


def test_flow_name_must_match_file_name() -> None:
    error = only(GOOD, path="flows/other.yaml")
    assert (error.path, error.line) == ("flows/other.yaml", 1)
    assert error.problem == "the flow is called `demo` but the file is `other.yaml`"
    assert "flow: other" in error.hint


def test_start_must_be_a_state() -> None:
    found = problems(GOOD.replace("start: category", "start: categry"))
    error = next(e for e in found if "start" in e.problem)
    assert error.line == 3
    assert error.problem == "`start` names `categry`, which is not a state of this flow"
    assert error.hint == "did you mean `category`?"


def test_next_to_missing_state_suggests_closest() -> None:
    found = problems(GOOD.replace("next: {yes: submit, no: cancelled}", "next: {yes: submt, no: cancelled}"))
    error = next(e for e in found if "submt" in e.problem)
    assert error.line == 16
    assert error.problem == "`next` in state `confirm` goes to `submt`, which is not a state of this flow"
    assert error.hint == "did you mean `submit`?"
    # the typo is the one cause: no cascade of "can never be reached" for the states behind it
    assert not any("can never be reached" in e.problem for e in found)


def test_unreachable_state() -> None:
    error = only(GOOD + "  orphan:\n    say: {es: a, en: a}\n    end: true\n")
    assert error.line == 24
    assert error.problem == "state `orphan` can never be reached from `category`"


def test_state_without_way_out() -> None:
    error = only(
        GOOD.replace(
            "    say: {es: Descartado, en: Discarded}\n    end: true\n", "    say: {es: Descartado, en: Discarded}\n"
        )
    )
    assert error.line == 21
    assert error.problem == "state `cancelled` has no way out"
    assert "end: true" in error.hint


def test_waiting_step_needs_a_question() -> None:
    error = only(
        GOOD.replace('    ask: {es: "¿Enviamos {category}? {summary}", en: "Send {category}? {summary}"}\n', "")
    )
    assert error.line == 13
    assert error.problem == "state `confirm` waits for an answer (yes_no) but has no question"


@pytest.mark.parametrize(
    ("old", "new", "line", "what"),
    [
        ("title: {es: Demo, en: Demo}", "title: {es: Demo}", 2, "the title has no `en` translation"),
        (
            "ask: {es: ¿Qué pasa?, en: What is it?}",
            "ask: {es: ¿Qué pasa?}",
            6,
            "the question of state `category` has no `en` translation",
        ),
        (
            "say: {es: Descartado, en: Discarded}",
            "say: {en: Discarded}",
            22,
            "the `say` of state `cancelled` has no `es` translation",
        ),
        (
            "light: {es: Luz, en: Light}",
            "light: {es: Luz, en: ''}",
            9,
            "option `light` of state `category` has no `en` translation",
        ),
        (
            "    save: category\n",
            "    save: category\n    hint: {es: Elija}\n",
            12,
            "the hint of state `category` has no `en` translation",
        ),
    ],
)
def test_missing_translation(old: str, new: str, line: int, what: str) -> None:
    error = only(GOOD.replace(old, new))
    assert (error.line, error.problem) == (line, what)
    assert error.hint == "add `" + what.split("`")[-2] + ": ...` (every configured language needs a text)"


def test_text_must_be_a_mapping_per_language() -> None:
    error = only(GOOD.replace("say: {es: Descartado, en: Discarded}", "say: Descartado"))
    assert error.line == 22
    assert error.problem == "the `say` of state `cancelled` should have a text per language, found `Descartado`"
    assert error.hint == "write it as {es: ..., en: ...}"


def test_choice_without_options() -> None:
    text = GOOD.replace("    options:\n      light: {es: Luz, en: Light}\n      on: {es: Encendido, en: On}\n", "")
    text = text.replace("next: {light: confirm, on: confirm}", "next: confirm")
    error = only(text)
    assert (error.line, error.problem) == (5, "state `category` is a choice without options")
    assert "categories" in error.hint


def test_options_from_unknown_source() -> None:
    text = GOOD.replace(
        "    options:\n      light: {es: Luz, en: Light}\n      on: {es: Encendido, en: On}\n",
        "    options_from: categorias\n",
    )
    text = text.replace("next: {light: confirm, on: confirm}", "next: confirm")
    error = only(text)
    assert (error.line, error.problem) == (8, "unknown option list `categorias` in state `category`")
    assert error.hint == "did you mean `categories`?"


def test_choice_next_keys_must_be_options() -> None:
    found = problems(GOOD.replace("next: {light: confirm, on: confirm}", "next: {lihgt: confirm, on: confirm}"))
    assert [(e.line, e.problem, e.hint) for e in found] == [
        (12, "`next` in state `category` has `lihgt`, which is not one of its options", "did you mean `light`?"),
        (12, "option `light` of state `category` has no `next`", "add `light: <state>` under `next`"),
    ]


def test_choice_next_keys_with_options_from_must_be_in_source() -> None:
    text = GOOD.replace(
        "    options:\n      light: {es: Luz, en: Light}\n      on: {es: Encendido, en: On}\n",
        "    options_from: categories\n",
    )
    every = "next: {water: confirm, cleaning: confirm, streetlight: confirm}"
    assert parse(text.replace("next: {light: confirm, on: confirm}", every))
    found = problems(text.replace("next: {light: confirm, on: confirm}", every.replace("water", "watter")))
    assert [(e.line, e.problem, e.hint) for e in found] == [
        (10, "`next` in state `category` has `watter`, which is not one of its options", "did you mean `water`?"),
        (10, "option `water` of state `category` has no `next`", "add `water: <state>` under `next`"),
    ]


def test_yes_no_next_keys_must_be_yes_and_no() -> None:
    error = only(GOOD.replace("next: {yes: submit, no: cancelled}", "next: {si: submit, no: cancelled}"))
    assert error.line == 16
    assert error.problem == (
        "`next` of the yes/no question in state `confirm` should have exactly `yes` and `no`, found no, si"
    )


def test_unknown_action_lists_known_ones() -> None:
    error = only(
        GOOD.replace("action: create_service_request", "action: create_ticket")
        .replace("Aviso {ticket} en {town}", "Aviso en {town}")
        .replace("Report {ticket} in {town}", "Report in {town}")
    )
    assert (error.line, error.problem) == (18, "unknown action `create_ticket` in state `submit`")
    assert error.hint == "known actions are: " + ", ".join(sorted(ACTIONS))
    assert "create_service_request, " in error.hint


def test_placeholder_never_saved() -> None:
    error = only(GOOD.replace("Aviso {ticket} en {town}", "Aviso {tiket} en {town}"))
    assert error.line == 19
    assert error.problem == "the say of state `submit` (es) uses `{tiket}`, which no earlier state saves"
    assert error.hint == "did you mean `ticket`?"


def test_placeholder_saved_only_later_is_an_error() -> None:
    text = GOOD.replace("ask: {es: ¿Qué pasa?, en: What is it?}", "ask: {es: '¿Qué pasa {ticket}?', en: What is it?}")
    error = only(text)
    assert error.line == 6
    assert error.problem == "the question of state `category` (es) uses `{ticket}`, which no earlier state saves"


def test_placeholders_from_save_action_and_builtins_are_fine() -> None:
    flow = parse(GOOD)  # {category} saved before confirm, {ticket} from its own action, {summary}/{town} builtin
    assert flow.states["submit"].action == "create_service_request"


def test_unmatched_brace() -> None:
    error = only(GOOD.replace("Aviso {ticket} en {town}", "Aviso {ticket en {town}"))
    assert error.line == 19
    assert "unmatched" in error.problem


@pytest.mark.parametrize("value", ["-1", "diez", "2.5", "true"])
def test_lengths_must_be_whole_numbers(value: str) -> None:
    text = GOOD.replace("next: {yes: submit, no: cancelled}", "next: {yes: submit, no: note}") + (
        f"  note:\n    ask: {{es: a, en: a}}\n    input: text\n    min_length: {value}\n    next: cancelled\n"
    )
    error = only(text)
    assert error.line == 27
    assert error.problem == f"`min_length` in state `note` should be a whole number of 0 or more, found `{value}`"


def test_requires_must_be_verified_or_empty() -> None:
    assert parse(GOOD.replace("start: category", "start: category\nrequires: verified")).requires == "verified"
    error = only(GOOD.replace("start: category", "start: category\nrequires: yes"))
    assert (error.line, error.problem) == (4, "`requires` should be empty or `verified`, found `yes`")


def test_every_problem_is_reported_at_once() -> None:
    text = GOOD.replace("input: yes_no", "input: yesno").replace("title: {es: Demo, en: Demo}", "title: {es: Demo}")
    assert len(problems(text)) == 2


def write_set(tmp_path: Path, **files: str) -> Path:
    shutil.copy(FLOWS_DIR / "messages.yaml", tmp_path / "messages.yaml")
    for name, text in files.items():
        (tmp_path / f"{name}.yaml").write_text(textwrap.dedent(text), encoding="utf-8")
    return tmp_path


MENU = """\
flow: main_menu
title: {es: Menú, en: Menu}
start: menu
states:
  menu:
    goto: demo
"""


def test_load_flows_checks_goto_targets(tmp_path: Path) -> None:
    directory = write_set(tmp_path, main_menu=MENU.replace("goto: demo", "goto: dem"), demo=GOOD)
    with pytest.raises(FlowErrors) as caught:
        load_flows(directory, CONTEXT)
    [error] = caught.value.errors
    assert (error.path, error.line) == (str(directory / "main_menu.yaml"), 6)
    assert error.problem == "`goto` names the flow `dem`, which does not exist"
    assert error.hint == "did you mean `demo`?"


def test_load_flows_needs_main_and_collects_every_file(tmp_path: Path) -> None:
    directory = write_set(tmp_path, demo=GOOD.replace("input: yes_no", "input: yesno"))
    with pytest.raises(FlowErrors) as caught:
        load_flows(directory, CONTEXT)
    wording = [e.problem for e in caught.value.errors]
    assert "the main flow `main_menu` is missing" in wording
    assert "unknown input `yesno` in state `confirm`" in wording


def test_load_flows_good_set(tmp_path: Path) -> None:
    flow_set = load_flows(write_set(tmp_path, main_menu=MENU, demo=GOOD), CONTEXT)
    assert set(flow_set.flows) == {"main_menu", "demo"}


def test_messages_missing_unknown_and_untranslated(tmp_path: Path) -> None:
    source = (FLOWS_DIR / "messages.yaml").read_text(encoding="utf-8")
    source = source.replace("  anything_else:", "  anythin_else:")
    source = source.replace("    en: Skip\n", "")
    path = tmp_path / "messages.yaml"
    path.write_text(source, encoding="utf-8")
    with pytest.raises(FlowErrors) as caught:
        load_messages(path, ("es", "en"))
    found = {e.problem: e for e in caught.value.errors}
    assert found["unknown message `anythin_else`"].hint == "did you mean `anything_else`?"
    assert found["message `anything_else` is missing"].line == source.splitlines().index("messages:") + 1
    skip_line = source.splitlines().index("  skip_label:") + 1
    assert found["message `skip_label` has no `en` translation"].line == skip_line
    assert all(e.path == str(path) for e in caught.value.errors)


def test_messages_shipped_are_complete() -> None:
    messages = load_messages(FLOWS_DIR / "messages.yaml", ("es", "en"))
    assert messages["yes_label"] == {"es": "Sí", "en": "Yes"}
    assert "{town}" in messages["greeting"]["es"]
    assert "{min}" in messages["hint_text_too_short"]["en"]
    assert "{max}" in messages["hint_text_too_long"]["es"]


def test_end_must_be_true_or_false() -> None:
    error = only(
        GOOD.replace(
            "    say: {es: Descartado, en: Discarded}\n    end: true\n",
            "    say: {es: Descartado, en: Discarded}\n    end: yes\n",
        )
    )
    assert (error.line, error.problem) == (23, "`end` in state `cancelled` should be true or false, found `yes`")


def test_loop_without_a_question() -> None:
    text = GOOD.replace(
        "    say: {es: Descartado, en: Discarded}\n    end: true\n",
        "    say: {es: Descartado, en: Discarded}\n    next: again\n"
        "  again:\n    say: {es: Otra, en: Again}\n    next: cancelled\n",
    )
    found = problems(text)
    assert [(e.line, e.problem) for e in found] == [
        (21, "state `cancelled` is in a loop where no state waits for an answer"),
        (24, "state `again` is in a loop where no state waits for an answer"),
    ]


def test_optional_only_for_text_photo_location() -> None:
    error = only(GOOD.replace("    input: yes_no\n", "    input: yes_no\n    optional: true\n"))
    assert (error.line, error.problem) == (16, "state `confirm` is optional but its input is `yes_no`")


def test_next_mapping_only_where_the_answer_chooses() -> None:
    text = GOOD.replace("next: {yes: submit, no: cancelled}", "next: {yes: submit, no: note}") + (
        "  note:\n    ask: {es: a, en: a}\n    input: text\n    optional: true\n    next: {skip: cancelled}\n"
    )
    error = only(text)
    assert error.line == 28
    assert error.problem == "`next` in state `note` lists answers, but a text answer does not choose where to go"


def test_a_comma_inside_braces_is_reported_with_the_fix() -> None:
    found = problems(
        GOOD.replace("ask: {es: ¿Qué pasa?, en: What is it?}", "ask: {es: ¿Qué pasa, vecino?, en: What is it?}")
    )
    assert [(error.line, error.problem) for error in found] == [
        (6, "the question of state `category` has `vecino?` with no text")
    ]
    assert "put the whole text in quotes" in found[0].hint
