"""bot.flowexamples and bot.flowtests: the example conversations kept next to the flows, and their runner."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from bot.config import Config
from bot.errors import FlowErrors
from bot.flowexamples import EXAMPLES_DIR, load_examples, parse_examples
from bot.flowtests import format_results, missing_examples, run_examples

PATH = "flows/examples/report_incident.yaml"
LANGUAGES = ("es", "en")
FLOWS = (
    "book_appointment",
    "main_menu",
    "my_requests",
    "plenary_proposal",
    "police_report",
    "procedure_activity_signup",
    "procedure_bulky_waste",
    "procedure_residence_certificate",
    "procedures",
    "report_incident",
    "subscriptions",
    "talk_to",
    "tour",
)


def _write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def _problems(text: str) -> list[tuple[int | None, str]]:
    with pytest.raises(FlowErrors) as raised:
        parse_examples(textwrap.dedent(text), PATH, LANGUAGES, FLOWS)
    for error in raised.value.errors:
        assert str(error).startswith(f"{PATH}:"), str(error)
    return [(error.line, str(error)) for error in raised.value.errors]


# -- the shipped examples ---------------------------------------------------------------


def test_the_shipped_examples_all_pass(config: Config) -> None:
    results = run_examples(config)
    report = format_results(results)
    assert results, report
    assert all(result.passed for result in results), report
    assert "report_incident: 14 conversations, 14 passed" in report
    assert "main_menu: 8 conversations, 8 passed" in report


def test_every_shipped_flow_has_examples_in_every_language(config: Config) -> None:
    assert missing_examples(config) == ()
    files = load_examples(config.flows_dir / EXAMPLES_DIR, config.languages, FLOWS)
    for file in files:
        for language in config.languages:
            names = [c.name for c in file.conversations if c.language == language]
            assert len(names) >= 4, (file.flow, language, names)  # happy path, a wrong answer, cancel, back


def test_the_examples_folder_is_not_read_as_flows(config: Config) -> None:
    from bot.catalog import load_snapshot

    flows = load_snapshot(config).flows.flows
    assert {name for name, flow in flows.items() if not flow.part} == set(FLOWS)
    assert {name for name, flow in flows.items() if flow.part} == {"ask_place"}


# -- failing examples -------------------------------------------------------------------


def test_a_wrong_expectation_fails_with_the_line_and_the_actual_reply(config: Config, tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "report_incident.yaml",
        """\
        flow: report_incident
        conversations:
          - name: wrong text
            language: es
            steps:
              - bot: ¿En qué puedo ayudarle?
              - say: "1"
                bot: ¿Qué ha roto?
              - say: never reached
        """,
    )
    [result] = run_examples(config, tmp_path)
    assert not result.passed
    assert result.failure is not None
    message = str(result.failure)
    assert f"{path}:7:" in message
    assert "'1'" in message
    assert "¿Qué ha roto?" in message
    assert "¿Qué ha pasado?" in message  # what the bot actually said
    assert "[Alumbrado público]" in message  # and its buttons
    report = format_results([result])
    assert "FAILED report_incident: wrong text (es)" in report
    assert "report_incident: 1 conversation, 0 passed, 1 failed" in report


def test_a_missing_row_fails_naming_what_was_saved(config: Config, tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "report_incident.yaml",
        """\
        flow: report_incident
        conversations:
          - name: saved the wrong category
            language: en
            steps:
              - say: "1"
              - say: water
              - say: A pipe is leaking
              - choice: skip
              - say: Calle Real 5
              - say: "yes"
                bot: Thank you
                saved: {service_request: {category: streetlight}}
        """,
    )
    [result] = run_examples(config, tmp_path)
    assert result.failure is not None
    message = str(result.failure)
    assert f"{path}:13:" in message
    assert "category='streetlight'" in message
    assert "category='water'" in message


def test_not_bot_fails_when_the_text_is_there(config: Config, tmp_path: Path) -> None:
    _write(
        tmp_path,
        "main_menu.yaml",
        """\
        flow: main_menu
        conversations:
          - name: not_bot
            language: en
            steps:
              - bot: How can I help you?
                not_bot: Report a problem
        """,
    )
    [result] = run_examples(config, tmp_path)
    assert result.failure is not None
    assert "no reply containing 'Report a problem'" in str(result.failure)


def test_each_conversation_gets_a_fresh_database(config: Config, tmp_path: Path) -> None:
    _write(
        tmp_path,
        "report_incident.yaml",
        """\
        flow: report_incident
        conversations:
          - name: reports
            language: es
            steps:
              - say: "1"
              - say: "1"
              - say: La farola está apagada
              - say: omitir
              - say: Calle Real 5
              - say: sí
                bot: JUN-2
                saved: {service_request: {category: streetlight}}
          - name: sees nothing of the first
            language: es
            steps:
              - bot: Hola
                not_saved: service_request
        """,
    )
    results = run_examples(config, tmp_path)
    assert [r.passed for r in results] == [True, True], format_results(results)


# -- malformed example files ------------------------------------------------------------


def test_a_good_file_parses() -> None:
    found = parse_examples(
        textwrap.dedent(
            """\
            flow: report_incident
            conversations:
              - name: all the kinds of step
                language: en
                steps:
                  - bot: Hello
                  - say: 1
                    bot: [What, problem]
                  - choice: skip
                  - location: [37.13, -3.59]
                  - photo: photo-1
                    not_bot: nope
                    saved: {service_request: {category: water, latitude: 37.13}}
                    not_saved: [service_request]
            """
        ),
        PATH,
        LANGUAGES,
        FLOWS,
    )
    [conversation] = found.conversations
    assert conversation.language == "en"
    assert [s.line for s in conversation.steps] == [6, 7, 9, 10, 11]
    assert conversation.steps[0].is_start
    assert conversation.steps[1].say == "1"
    assert conversation.steps[1].bot == ("What", "problem")
    assert conversation.steps[3].location is not None and conversation.steps[3].location.longitude == -3.59


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        (
            """\
            flow: report_incident
            conversations:
              - name: x
                language: es
                steps:
                  - say: hola
                    bto: Hola
            """,
            7,
            ["unknown key `bto`", "did you mean `bot`?"],
        ),
        (
            """\
            flow: report_incident
            conversations:
              - name: x
                language: es
                steps:
                  - bot: Hola
                  - say: hola
                    choice: report
            """,
            7,
            ["`say` and `choice`", "one thing per step"],
        ),
        (
            """\
            flow: report_incident
            conversations:
              - name: x
                language: es
                steps:
                  - bot: Hola
                  - bot: ¿Qué?
            """,
            7,
            ["nothing the resident does"],
        ),
        (
            """\
            flow: report_incident
            conversations:
              - name: x
                language: fr
                steps:
                  - bot: Hola
            """,
            4,
            ["the language `fr`", "es, en"],
        ),
        (
            """\
            flow: report_incident
            conversations:
              - name: x
                language: es
                steps:
                  - location: Calle Real
            """,
            6,
            ["[latitude, longitude]"],
        ),
        (
            """\
            flow: report_incidents
            conversations: []
            """,
            1,
            ["not one of the flows", "did you mean `report_incident`?"],
        ),
        (
            """\
            flow: report_incident
            conversations:
              - name: x
                language: es
                steps:
                  - say: sí
                    saved: {service_request: {categroy: water}}
            """,
            7,
            ["no field `categroy`", "did you mean `category`?"],
        ),
        (
            """\
            flow: report_incident
            conversations:
              - name: x
                language: es
                steps:
                  - say: sí
                    not_saved: ticket
            """,
            7,
            ["`ticket` is not something a conversation saves"],
        ),
        (
            """\
            flow: report_incident
            conversations:
              - name: x
                language: es
                steps:
                  - say: sí
                    bot: true
            """,
            7,
            ["`bot` should be a text"],
        ),
        (
            """\
            flow: report_incident
            conversations:
              - name: x
                language: es
                steps: "say hola"
            """,
            5,
            ["should have `steps:`"],
        ),
        (
            """\
            flow: report_incident
            conversations:
              - name: x
                language: es
                steps:
                  - say: "hola
            """,
            7,
            ["YAML syntax error"],
        ),
    ],
)
def test_malformed_files_name_the_line(text: str, line: int, words: list[str]) -> None:
    problems = _problems(text)
    assert line in [found for found, _ in problems], problems
    shown = "\n".join(message for _, message in problems)
    for word in words:
        assert word in shown, shown


def test_every_problem_of_every_file_is_reported(config: Config, tmp_path: Path) -> None:
    _write(tmp_path, "a.yaml", "flow: main_menu\nconversations:\n  - name: x\n    language: es\n    steps: [1]\n")
    _write(tmp_path, "b.yaml", "flow: report_incident\nconversashuns: []\n")
    with pytest.raises(FlowErrors) as raised:
        run_examples(config, tmp_path)
    lines = [(Path(e.path).name, e.line) for e in raised.value.errors]
    assert ("a.yaml", 5) in lines
    assert ("b.yaml", 2) in lines


# -- verified residents ------------------------------------------------------------------

PROPOSAL_STEPS = """\
            steps:
              - bot: ¿En qué puedo ayudarle?
              - say: "4"
              - say: propuesta para el pleno
                bot: {expected}
                not_saved: service_request
"""


def test_verified_true_makes_the_resident_verified(config: Config, tmp_path: Path) -> None:
    text = (
        "flow: plenary_proposal\nconversations:\n"
        "  - name: verified\n    language: es\n    verified: true\n"
        + textwrap.indent(textwrap.dedent(PROPOSAL_STEPS.format(expected="¿Cuál es su propuesta?")), "    ")
        + "  - name: not verified\n    language: es\n"
        + textwrap.indent(textwrap.dedent(PROPOSAL_STEPS.format(expected="¿Cuál es su propuesta?")), "    ")
    )
    (tmp_path / "plenary_proposal.yaml").write_text(text, encoding="utf-8")
    verified, unverified = run_examples(config, tmp_path)
    assert verified.passed, format_results([verified])
    assert unverified.failure is not None
    assert "Para este trámite necesito saber que es usted" in str(unverified.failure)


def test_verified_must_be_true_or_false() -> None:
    problems = _problems(
        """\
        flow: report_incident
        conversations:
          - name: x
            language: es
            verified: yes
            steps:
              - say: hola
        """
    )
    assert problems == [
        (
            5,
            f"{PATH}:5: `verified` in conversation `x` should be true or false, found `yes` — "
            "write `verified: true` for a resident verified at the town hall, or remove the line",
        )
    ]
