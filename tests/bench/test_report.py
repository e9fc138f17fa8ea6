"""The bench report: tables as markdown under the machine line, charts as real PNG files beside it."""

from __future__ import annotations

from pathlib import Path

from bot.bench.report import Report


def test_report_writes_markdown_tables_and_png_charts(tmp_path: Path) -> None:
    printed: list[str] = []
    report = Report("demo", command="plaza bench demo", machine="a test machine", out=printed.append)
    report.table("Throughput", ["database", "msg/s"], [["sqlite", 1234], ["postgresql", 0.5]], note="Target: more.")
    report.chart("backlog", "Backlog", "seconds", "rows", {"inbox": [(0.0, 5.0), (1.0, 2.0)], "outbox": [(0.0, 1.0)]})
    report.text("Sending dominates.")

    path = report.write(tmp_path)

    body = path.read_text(encoding="utf-8")
    assert body.startswith("# plaza bench demo\n")
    assert "- machine: a test machine" in body
    assert "- command: `plaza bench demo`" in body
    assert "| database | msg/s |\n|---|---:|\n| sqlite | 1,234 |\n| postgresql | 0.50 |" in body
    assert "Sending dominates." in body
    image = tmp_path / f"{report.stem()}-backlog.png"
    assert f"![Backlog]({image.name})" in body
    assert image.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert any("| sqlite | 1,234 |" in line for line in printed)
    assert printed[-1] == f"report: {path}"
