"""`plaza flows test`: the example conversations beside the flows pass, and a wrong one says where and why."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.support.server import ROOT, run_plaza


@pytest.fixture
def town(tmp_path: Path) -> Path:
    shutil.copy(ROOT / "config.yaml", tmp_path / "config.yaml")
    shutil.copytree(ROOT / "flows", tmp_path / "flows")
    return tmp_path / "config.yaml"


def test_shipped_examples_pass(town: Path) -> None:
    result = run_plaza(town, "flows", "test")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "report_incident: 14 conversations, 14 passed" in result.stdout


def test_a_wrong_expectation_fails_with_its_line(town: Path) -> None:
    examples = town.parent / "flows" / "examples" / "report_incident.yaml"
    text = examples.read_text(encoding="utf-8")
    assert "¿Qué ha pasado?" in text
    examples.write_text(text.replace("¿Qué ha pasado?", "¿Qué ha ocurrido hoy?", 1), encoding="utf-8")
    result = run_plaza(town, "flows", "test")
    assert result.returncode == 1
    assert f"{examples}:" in result.stdout
    assert "¿Qué ha ocurrido hoy?" in result.stdout and "¿Qué ha pasado?" in result.stdout  # expected and actual


def test_a_flow_without_examples_is_reported(town: Path) -> None:
    (town.parent / "flows" / "examples" / "main_menu.yaml").unlink()
    result = run_plaza(town, "flows", "test")
    assert result.returncode == 1
    assert "no example conversations — add flows/examples/main_menu.yaml" in result.stderr
