"""A benchmark's report: tables printed as they come, then markdown plus PNG charts written to a folder.

    report = Report("engine", command="plaza bench engine")
    report.table("Throughput", ["database", "msg/s"], [["sqlite", "1,234"]])
    report.chart("latency", "Reply latency", "seconds", "ms", {"p95": [(0.0, 12.0), (1.0, 15.0)]})
    path = report.write()          # var/bench/engine-20261124-101500.md (+ engine-…-latency.png)

A table is printed to the terminal when added, so a long run shows its results
as it goes; the markdown repeats them under the machine line and the command.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from bot.bench.machine import describe

DEFAULT_FOLDER = Path("var/bench")


@dataclass(frozen=True)
class Table:
    title: str
    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    note: str = ""

    def markdown(self) -> list[str]:
        lines = [f"### {self.title}", ""]
        lines.append("| " + " | ".join(self.headers) + " |")
        lines.append("|" + "|".join("---" if index == 0 else "---:" for index in range(len(self.headers))) + "|")
        lines.extend("| " + " | ".join(row) + " |" for row in self.rows)
        if self.note:
            lines += ["", self.note]
        return [*lines, ""]


@dataclass(frozen=True)
class Chart:
    name: str
    title: str
    xlabel: str
    ylabel: str
    series: Mapping[str, Sequence[tuple[float, float]]]


@dataclass
class Report:
    name: str
    command: str = ""
    machine: str = field(default_factory=describe)
    started: datetime = field(default_factory=lambda: datetime.now(UTC))
    out: Callable[[str], None] = print
    paragraphs: list[str | Table | Chart] = field(default_factory=list)

    def text(self, paragraph: str) -> None:
        """A paragraph of findings (what dominates, how far from a target)."""
        self.paragraphs.append(paragraph)
        self.out(paragraph)

    def table(self, title: str, headers: Sequence[str], rows: Sequence[Sequence[object]], note: str = "") -> Table:
        table = Table(title, tuple(headers), tuple(tuple(_cell(value) for value in row) for row in rows), note)
        self.paragraphs.append(table)
        self.out("\n".join(table.markdown()))
        return table

    def chart(
        self, name: str, title: str, xlabel: str, ylabel: str, series: Mapping[str, Sequence[tuple[float, float]]]
    ) -> Chart:
        """A line chart (one line per series of ``(x, y)`` points), drawn when the report is written."""
        chart = Chart(name, title, xlabel, ylabel, {key: list(points) for key, points in series.items()})
        self.paragraphs.append(chart)
        return chart

    def stem(self) -> str:
        return f"{self.name}-{self.started.strftime('%Y%m%d-%H%M%S')}"

    def markdown(self, charts: Mapping[str, str] | None = None) -> str:
        lines = [
            f"# plaza bench {self.name}",
            "",
            f"- machine: {self.machine}",
            f"- started: {self.started.strftime('%Y-%m-%d %H:%M:%S UTC')}",
        ]
        if self.command:
            lines.append(f"- command: `{self.command}`")
        lines.append("")
        for paragraph in self.paragraphs:
            if isinstance(paragraph, Table):
                lines += paragraph.markdown()
            elif isinstance(paragraph, Chart):
                image = (charts or {}).get(paragraph.name)
                if image:
                    lines += [f"![{paragraph.title}]({image})", ""]
            else:
                lines += [paragraph, ""]
        return "\n".join(lines)

    def write(self, folder: Path | None = None) -> Path:
        """Write ``<name>-<time>.md`` and one PNG per chart; returns the markdown's path."""
        folder = folder or DEFAULT_FOLDER
        folder.mkdir(parents=True, exist_ok=True)
        images: dict[str, str] = {}
        for paragraph in self.paragraphs:
            if isinstance(paragraph, Chart):
                image = folder / f"{self.stem()}-{paragraph.name}.png"
                _draw(paragraph, image)
                images[paragraph.name] = image.name
        path = folder / f"{self.stem()}.md"
        path.write_text(self.markdown(images), encoding="utf-8")
        self.out(f"report: {path}")
        return path


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:,.2f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def _draw(chart: Chart, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(8, 4), dpi=100)
    try:
        for label, points in chart.series.items():
            if points:
                xs, ys = zip(*points, strict=True)
                axes.plot(xs, ys, label=label)
        axes.set_title(chart.title)
        axes.set_xlabel(chart.xlabel)
        axes.set_ylabel(chart.ylabel)
        axes.grid(True, alpha=0.3)
        if len(chart.series) > 1:
            axes.legend()
        figure.tight_layout()
        figure.savefig(path)
    finally:
        plt.close(figure)
