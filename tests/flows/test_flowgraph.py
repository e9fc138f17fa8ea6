"""bot.flowgraph: the shipped flows drawn as Mermaid and SVG; hostile texts stay text."""

from __future__ import annotations

import re
import textwrap
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest

from bot.catalog import load_snapshot
from bot.config import load_config
from bot.flowgraph import mermaid, svg
from bot.flows import Flow, FlowContext, parse_flow

ROOT = Path(__file__).resolve().parents[2]
SVG = "{http://www.w3.org/2000/svg}"
CONTEXT = FlowContext(languages=("es", "en"), option_sources={}, actions={"create_service_request": ("ticket",)})

HOSTILE = """\
flow: x
title: {es: "Prueba <b> & co", en: "Test <b> & co"}
start: ask
states:
  ask:
    ask: {es: '¿Sí? "a" [b] (c) #1 `d`', en: 'Yes? "a" [b] (c) #1 `d`'}
    input: yes_no
    next: {yes: warn, no: ask}
  warn:
    say: {es: "<script>alert(1)</script> &amp; & ]]>", en: "<script>& \\x01"}
    action: create_service_request
    end: true
"""


@pytest.fixture(scope="module")
def flows() -> dict[str, Flow]:
    return dict(load_snapshot(load_config(ROOT / "config.yaml", env={})).flows.flows)


def hostile() -> Flow:
    return parse_flow(textwrap.dedent(HOSTILE), "flows/x.yaml", CONTEXT)


def texts(picture: str) -> list[str]:
    return ["".join(t.itertext()) for t in ElementTree.fromstring(picture).iter(f"{SVG}text")]


def test_mermaid_has_every_state_of_report_incident(flows: dict[str, Flow]) -> None:
    flow = flows["report_incident"]
    text = mermaid(flow, "en")
    assert text.splitlines()[1] == "flowchart TD"
    for name in flow.states:
        assert f"    s_{name}" in text
        # a state that only runs an action (nearby) has no text to show
        assert f'"{name}<br/>' in text or f'[["{name}"]]' in text


def test_mermaid_shapes_mark_start_end_and_action(flows: dict[str, Flow]) -> None:
    text = mermaid(flows["report_incident"], "en")
    assert 's_category(["category<br/>What is the problem?"])' in text
    assert 's_cancelled((("cancelled<br/>' in text
    assert "class s_follow,s_submit,s_cancelled ending" in text
    assert "class s_nearby,s_follow,s_submit action" in text
    assert 's_nearby[["nearby"]]' in text


def test_mermaid_labels_the_answers_of_confirm(flows: dict[str, Flow]) -> None:
    text = mermaid(flows["report_incident"], "en")
    assert 's_confirm -->|"yes"| s_submit' in text
    assert 's_confirm -->|"no"| s_cancelled' in text
    assert "s_category --> s_description" in text


def test_mermaid_goto_is_a_dotted_arrow_to_the_other_flow(flows: dict[str, Flow]) -> None:
    text = mermaid(flows["main_menu"], "en")
    assert "s_go_report -.-> flow_report_incident" in text
    assert 'flow_report_incident{{"flow:report_incident"}}' in text
    assert 's_menu -->|"help_me"| s_go_tour' in text
    assert "s_go_tour -.-> flow_tour" in text
    assert "s_numbers --> s_words" in mermaid(flows["tour"], "en")


def test_mermaid_texts_are_in_the_language_and_short(flows: dict[str, Flow]) -> None:
    text = mermaid(flows["ask_place"], "es")
    assert "¿Dónde es?" in text
    label = next(line for line in text.splitlines() if line.startswith("    s_location"))
    shown = label.split("<br/>", 1)[1].rstrip('"])')
    assert len(shown) == 40
    assert shown.endswith("…")


def test_mermaid_escapes_quotes_brackets_and_markup() -> None:
    text = mermaid(hostile(), "en")
    ask = next(line for line in text.splitlines() if line.startswith("    s_ask"))
    assert ask == '    s_ask(["ask<br/>Yes? #quot;a#quot; [b] (c) #35;1 #96;d#96;"])'
    warn = next(line for line in text.splitlines() if line.startswith("    s_warn"))
    assert "<script>" not in warn
    assert "#lt;script#gt;#amp;" in warn
    assert 's_ask -->|"no"| s_ask' in text


def test_svg_is_xml_with_every_state(flows: dict[str, Flow]) -> None:
    for flow in flows.values():
        picture = svg(flow, "en")
        shown = texts(picture)
        for name in flow.states:
            assert name in shown
    assert "flow:report_incident" in texts(svg(flows["main_menu"], "es"))


def test_svg_draws_labelled_arrows_with_heads(flows: dict[str, Flow]) -> None:
    root = ElementTree.fromstring(svg(flows["report_incident"], "en"))
    arrows = [p for p in root.iter(f"{SVG}path") if p.get("marker-end") == "url(#arrow)"]
    assert len(arrows) == 10 + 1  # ten `next` arrows and the start marker
    assert root.find(f"{SVG}defs/{SVG}marker[@id='arrow']") is not None
    shown = texts(svg(flows["report_incident"], "en"))
    assert "yes" in shown and "no" in shown
    assert "What is the problem?" in shown


TWO_CHOICE_MENU = """\
flow: main_menu
title: {es: Menú, en: Menu}
start: menu
states:
  menu:
    ask: {es: ¿En qué puedo ayudarle?, en: How can I help you?}
    input: choice
    options:
      report: {es: Avisar, en: Report}
      help_me: {es: Ayuda, en: Help}
    next: {report: go_report, help_me: how}
  go_report:
    goto: report_incident
  how:
    say: {es: Así funciona., en: This is how it works.}
    next: menu
"""


def test_svg_draws_back_edges_beside_the_boxes() -> None:
    root = ElementTree.fromstring(svg(parse_flow(TWO_CHOICE_MENU, "main_menu.yaml", CONTEXT), "en"))
    boxes = [r for r in root.iter(f"{SVG}rect") if r.get("rx") == "12"]
    right = max(float(r.get("x", "0")) + float(r.get("width", "0")) for r in boxes)
    arrows = [p.get("d", "") for p in root.iter(f"{SVG}path") if p.get("marker-end") == "url(#arrow)"]
    assert len(arrows) == 5  # menu->go_report, menu->how, the goto, how->menu, and the start marker
    outside = [d for d in arrows if max(float(x) for x in re.findall(r"(-?[\d.]+),", d)) > right]
    assert len(outside) == 1, "only the arrow from `how` back up to `menu` goes round by a lane"
    menu = next(r for r in boxes if r.get("stroke") == "#2e7d32")
    end_x = float(re.findall(r"(-?[\d.]+),", outside[0])[-1])
    assert end_x == pytest.approx(float(menu.get("x", "0")) + float(menu.get("width", "0")))


def test_svg_escapes_a_hostile_text() -> None:
    picture = svg(hostile(), "en")
    root = ElementTree.fromstring(picture)
    assert root.find(f"{SVG}script") is None
    assert not list(root.iter(f"{SVG}script"))
    assert "<script>" not in picture
    assert "&lt;script&gt;&amp;" in picture
    assert "<script>&" in texts(picture)
    assert "Test <b> & co (x)" in texts(picture)
    assert "\x01" not in picture


def test_svg_wraps_long_texts_in_three_lines_at_most(flows: dict[str, Flow]) -> None:
    shown = texts(svg(flows["tour"], "en"))
    start = shown.index("numbers") + 1
    lines = shown[start : start + 3]
    assert all(len(line) <= 28 for line in lines)
    assert lines[0].startswith("I ask you short")
    assert lines[-1].endswith("…")
    assert shown[start + 3] == "words"  # the next state: the long text stopped at three lines


def test_an_unknown_language_names_the_state_and_the_languages(flows: dict[str, Flow]) -> None:
    with pytest.raises(
        ValueError, match=r"state `category` of flow `report_incident` has no `fr` text \(it has: en, es\)"
    ):
        mermaid(flows["report_incident"], "fr")
    with pytest.raises(ValueError, match="no `fr` text"):
        svg(flows["report_incident"], "fr")
