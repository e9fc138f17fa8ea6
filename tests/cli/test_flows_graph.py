"""`plaza flows graph NAME`: Mermaid text for the admin, and an SVG picture they can open."""

from __future__ import annotations

import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.support.server import ROOT, run_plaza


@pytest.fixture
def town(tmp_path: Path) -> Path:
    shutil.copy(ROOT / "config.yaml", tmp_path / "config.yaml")
    shutil.copytree(ROOT / "flows", tmp_path / "flows")
    return tmp_path / "config.yaml"


def test_graph_prints_mermaid_and_writes_an_svg(town: Path) -> None:
    out = town.parent / "incident.svg"
    result = run_plaza(town, "flows", "graph", "report_incident", "--language", "en", "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[1] == "flowchart TD"
    assert 's_confirm -->|"yes"| s_submit' in result.stdout
    assert f"picture written to {out}" in result.stderr
    picture = ET.fromstring(out.read_text(encoding="utf-8"))
    assert picture.tag.endswith("svg")
    assert "Shall we send it?" in out.read_text(encoding="utf-8")


def test_graph_of_an_unknown_flow_suggests_the_closest(town: Path) -> None:
    result = run_plaza(town, "flows", "graph", "report_incidnt")
    assert result.returncode == 1
    assert "no flow named `report_incidnt` — did you mean `report_incident`?" in result.stderr


def test_graph_in_a_language_the_town_does_not_speak(town: Path) -> None:
    result = run_plaza(town, "flows", "graph", "main_menu", "--language", "fr")
    assert result.returncode == 2
    assert "`fr` is not one of the town's languages" in result.stderr
