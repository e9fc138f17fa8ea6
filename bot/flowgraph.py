"""A flow drawn for an admin: Mermaid text, or a self-contained SVG picture.

``plaza flows graph NAME`` shows an admin the shape of a flow: which question
leads where, which answer takes which branch, where the flow ends or hands over
to another flow. :func:`mermaid` gives text for any Mermaid viewer (GitLab,
GitHub, mermaid.live); :func:`svg` gives a picture any browser opens, drawn
here with no external program and nothing fetched from the internet.

Both draw the same graph:

- one node per state, with its name and a short version of its question (or,
  for a state that asks nothing, of what it says) in the chosen language;
- the start state is marked (a stadium in Mermaid, a thick green border and a
  "start" dot in the SVG); a state that ends the conversation is a double
  circle (a double border); a state that runs an action is a subroutine box
  (side bars, and the action's name);
- a plain ``next`` is a plain arrow; a ``next`` mapping is one arrow per target
  labelled with the answer(s) that lead there; a ``goto`` is a dotted arrow to
  a node ``flow:<name>``; ``end: true`` draws no arrow.

Every text from the flow file is escaped, so a question containing ``"``,
``[``, ``<script>`` or ``&`` never breaks the drawing. Both functions raise
:class:`ValueError` when a text of the flow has no version in ``language``
(a validated flow has every configured language, so the caller passed one the
town does not use).
"""

from __future__ import annotations

import html
import re
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass

from bot.conditions import Rule, plain
from bot.flows import Flow, Step, Text

__all__ = ["mermaid", "svg"]

LABEL_CHARS = 40
"""Mermaid labels keep this many characters of a state's text."""

_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


@dataclass(frozen=True, slots=True)
class _Node:
    """A box of the drawing: a state of the flow, or another flow a ``goto`` enters."""

    key: str  # unique: "s:<state>" or "f:<flow>"
    title: str  # the state name, or "flow:<name>"
    text: str  # the state's question or saying, whitespace collapsed; "" for a flow node
    action: str | None = None
    goto: str | None = None
    start: bool = False
    end: bool = False
    other_flow: bool = False


@dataclass(frozen=True, slots=True)
class _Edge:
    source: str
    target: str
    label: str  # the answers leading there, "" for a plain next or a goto
    goto: bool = False


@dataclass(frozen=True, slots=True)
class _Graph:
    nodes: tuple[_Node, ...]  # in discovery order from the start state
    edges: tuple[_Edge, ...]
    depth: Mapping[str, int]  # node key -> row (breadth-first distance from start)


def _clean(text: str) -> str:
    """One line of text: XML-invalid control characters dropped, whitespace collapsed."""
    return " ".join(_CONTROL.sub("", text).split())


def _in(text: Text | None, language: str, flow: Flow, state: str) -> str:
    if text is None:
        return ""
    if language not in text:
        known = ", ".join(sorted(text)) or "none"
        raise ValueError(
            f"state `{state}` of flow `{flow.name}` has no `{language}` text (it has: {known}); "
            "draw the flow in one of the town's languages"
        )
    return _clean(text[language])


def _targets(step: Step) -> list[tuple[str, str]]:
    """(target state, label) for each arrow of ``next``; answers to the same state share an arrow."""
    if isinstance(step.next, str):
        return [(step.next, "")]
    if isinstance(step.next, Mapping):
        answers: dict[str, list[str]] = {}
        for answer, target in step.next.items():
            answers.setdefault(target, []).append(answer)
        return [(target, " / ".join(keys)) for target, keys in answers.items()]
    if isinstance(step.next, tuple):
        return [(rule.target, _rule_label(rule)) for rule in step.next]
    return []


def _rule_label(rule: Rule) -> str:
    """``if`` tests as a short arrow label (``age ≥ 65, resident verified``); ``else`` for the last rule."""
    if not rule.tests:
        return "else"
    parts: list[str] = []
    for test in rule.tests:
        if test.empty:
            parts.append(f"no {test.name}")
        elif test.low is not None or test.high is not None:
            low = f"{plain(test.low)} ≤ " if test.low is not None else ""
            high = f" ≤ {plain(test.high)}" if test.high is not None else ""
            parts.append(f"{low}{test.name}{high}")
        else:
            parts.append(f"{test.name} {' / '.join(test.any_of)}")
    return ", ".join(parts)


def _graph(flow: Flow, language: str) -> _Graph:
    """The nodes and arrows of ``flow``, nodes in breadth-first order from ``start``."""
    nodes: dict[str, _Node] = {}
    edges: list[_Edge] = []
    for name, step in flow.states.items():
        key = f"s:{name}"
        text = _in(step.ask, language, flow, name) or _in(step.say, language, flow, name)
        if step.call is not None:
            text = f"call {step.call}" + (f": {text}" if text else "")
        nodes[key] = _Node(key, name, text, step.action, step.goto, name == flow.start, step.end)
        for target, label in _targets(step):
            if target in flow.states:
                edges.append(_Edge(key, f"s:{target}", label))
        if step.goto is not None:
            other = f"f:{step.goto}"
            nodes.setdefault(other, _Node(other, f"flow:{step.goto}", "", other_flow=True))
            edges.append(_Edge(key, other, "", goto=True))
    after: dict[str, list[str]] = {}
    for edge in edges:
        after.setdefault(edge.source, []).append(edge.target)
    depth: dict[str, int] = {}
    order: list[str] = []
    # Breadth first from the start; any state it cannot reach (a flow not validated) starts a new row below.
    roots = [f"s:{flow.start}"] if flow.start in flow.states else []
    roots += [k for k in nodes if k.startswith("s:")]
    for root in roots:
        if root in depth:
            continue
        depth[root] = max(depth.values(), default=-1) + 1
        queue = [root]
        while queue:
            key = queue.pop(0)
            order.append(key)
            for target in after.get(key, []):
                if target not in depth:
                    depth[target] = depth[key] + 1
                    queue.append(target)
    return _Graph(tuple(nodes[k] for k in order), tuple(edges), depth)


# --- Mermaid -------------------------------------------------------------------------------------------------


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _mermaid_text(text: str) -> str:
    """Text safe inside a quoted Mermaid label: quotes, markup and backticks as entity codes."""
    text = text.replace("#", "#35;")  # first: the other codes start with #
    for char, code in (('"', "#quot;"), ("<", "#lt;"), (">", "#gt;"), ("&", "#amp;"), ("`", "#96;")):
        text = text.replace(char, code)
    return text


def _mermaid_id(key: str, ids: dict[str, str]) -> str:
    """A Mermaid node id for ``key``: a prefix keeps clear of keywords (``end``) and of ``o``/``x`` arrows."""
    if key not in ids:
        kind, name = key.split(":", 1)
        base = ("s_" if kind == "s" else "flow_") + re.sub(r"\W", "_", name, flags=re.ASCII)
        candidate, n = base, 1
        while candidate in ids.values():
            n += 1
            candidate = f"{base}_{n}"
        ids[key] = candidate
    return ids[key]


def mermaid(flow: Flow, language: str) -> str:
    """Mermaid ``flowchart TD`` text for ``flow``, its texts in ``language``.

    Node ids are ``s_<state>`` for states and ``flow_<name>`` for other flows
    (labelled ``flow:<name>``). Arrows: ``A --> B`` for ``next``,
    ``A -->|"yes"| B`` for an answer of a ``next`` mapping, ``A -.-> flow_x``
    for ``goto``. Ends with a newline.
    """
    graph = _graph(flow, language)
    ids: dict[str, str] = {}
    lines = [f"%% flow {flow.name} (version {flow.version}), texts in {_clean(language)}", "flowchart TD"]
    for node in graph.nodes:
        label = _mermaid_text(node.title)
        if node.text:
            label += "<br/>" + _mermaid_text(_short(node.text, LABEL_CHARS))
        if node.other_flow:
            opening, closing = "{{", "}}"
        elif node.start:
            opening, closing = "([", "])"
        elif node.end:
            opening, closing = "(((", ")))"
        elif node.action is not None:
            opening, closing = "[[", "]]"
        else:
            opening, closing = "[", "]"
        lines.append(f'    {_mermaid_id(node.key, ids)}{opening}"{label}"{closing}')
    for edge in graph.edges:
        source, target = _mermaid_id(edge.source, ids), _mermaid_id(edge.target, ids)
        if edge.goto:
            arrow = "-.->"
        elif edge.label:
            arrow = f'-->|"{_mermaid_text(edge.label)}"|'
        else:
            arrow = "-->"
        lines.append(f"    {source} {arrow} {target}")
    # A state can be only one shape; colours keep the rest visible (an ending state that runs an action).
    for name, style, members in (
        ("start", "stroke:#2e7d32,stroke-width:3px", [n for n in graph.nodes if n.start]),
        ("ending", "fill:#fce4ec,stroke:#ad1457", [n for n in graph.nodes if n.end]),
        ("action", "fill:#f3e5f5,stroke:#6a1b9a", [n for n in graph.nodes if n.action is not None]),
    ):
        if members:
            lines.append(f"    classDef {name} {style}")
            lines.append(f"    class {','.join(_mermaid_id(n.key, ids) for n in members)} {name}")
    return "\n".join(lines) + "\n"


# --- SVG -----------------------------------------------------------------------------------------------------

_BOX_W = 240
_H_GAP = 70
_V_GAP = 110  # from the top of the gap: routed arrows leave at 10-26, bends at 40, routed arrows enter at 54-70
_MARGIN = 30
_LANE = 22  # between two side lanes of arrows that go back up (or skip rows)
_TOP = 64  # the title above the boxes
_BOTTOM = 56  # the legend below them
_WRAP = 28
_MAX_LINES = 3
_NAME_CHARS = 24
_LEGEND = (
    "green border: where the flow starts · double border: the conversation ends there",
    "side bars: runs an action · dashed: the conversation goes on in another flow",
)
_FONT = "DejaVu Sans, Verdana, Arial, sans-serif"


def _wrapped(text: str) -> list[str]:
    lines = textwrap.wrap(text, _WRAP)
    if len(lines) > _MAX_LINES:
        last = lines[_MAX_LINES - 1]
        lines = [*lines[: _MAX_LINES - 1], last + " …" if len(last) <= _WRAP - 2 else last[: _WRAP - 1] + "…"]
    return lines


def _x(text: str) -> str:
    """Text for an SVG element or attribute: XML-escaped, control characters dropped."""
    return html.escape(_CONTROL.sub("", text), quote=True)


@dataclass(slots=True)
class _Box:
    node: _Node
    lines: list[str]
    x: float = 0
    y: float = 0
    h: float = 0

    @property
    def cx(self) -> float:
        return self.x + _BOX_W / 2

    @property
    def right(self) -> float:
        return self.x + _BOX_W

    @property
    def bottom(self) -> float:
        return self.y + self.h

    def height(self) -> float:
        extra = (1 if self.node.action else 0) + (1 if self.node.goto else 0)
        return 38 + 16 * (len(self.lines) + extra) if self.lines or extra else 40


def _crosses(x1: float, y1: float, x2: float, y2: float, box: _Box) -> bool:
    """Whether the segment passes through ``box`` (sampled; boxes are large against the step)."""
    for i in range(1, 40):
        t = i / 40
        px, py = x1 + (x2 - x1) * t, y1 + (y2 - y1) * t
        if box.x - 6 <= px <= box.right + 6 and box.y - 2 <= py <= box.bottom + 2:
            return True
    return False


def _rounded(points: list[tuple[float, float]], radius: float = 10) -> str:
    """An SVG path through ``points`` with rounded corners."""
    d = f"M{points[0][0]:.1f},{points[0][1]:.1f}"
    for i in range(1, len(points) - 1):
        (ax, ay), (bx, by), (cx, cy) = points[i - 1], points[i], points[i + 1]
        r = min(radius, abs(bx - ax + by - ay) / 2, abs(cx - bx + cy - by) / 2)
        sx = bx - r * _sign(bx - ax)
        sy = by - r * _sign(by - ay)
        ex = bx + r * _sign(cx - bx)
        ey = by + r * _sign(cy - by)
        d += f" L{sx:.1f},{sy:.1f} Q{bx:.1f},{by:.1f} {ex:.1f},{ey:.1f}"
    d += f" L{points[-1][0]:.1f},{points[-1][1]:.1f}"
    return d


def _sign(v: float) -> int:
    return (v > 0) - (v < 0)


def _spread(start: float, width: float, count: int, index: int) -> float:
    return start + width * (index + 1) / (count + 1)


def _label_width(text: str) -> float:
    return 7.2 * len(text) + 12 if text else 0


def _label(x: float, y: float, text: str) -> list[str]:
    width = _label_width(text)
    return [
        f'<rect x="{x - width / 2:.1f}" y="{y - 10:.1f}" width="{width:.1f}" height="20" rx="10" '
        'fill="#fff8e1" stroke="#e0b000" stroke-width="1"/>',
        f'<text x="{x:.1f}" y="{y + 4:.1f}" text-anchor="middle" class="edge-label">{_x(text)}</text>',
    ]


def svg(flow: Flow, language: str) -> str:
    """A standalone SVG picture of ``flow``, its texts in ``language``.

    Rows are the breadth-first distance from ``start``, boxes in a row in the
    order they are reached. Arrows to a lower row are straight; arrows that go
    back up, stay in their row or would cross a box run in a lane beside the
    boxes. The result is well-formed XML with no external reference (fonts are
    the viewer's own), so it can be saved as ``FILE.svg`` and opened in any browser.
    """
    graph = _graph(flow, language)
    boxes = {n.key: _Box(n, [] if n.other_flow else _wrapped(n.text)) for n in graph.nodes}
    rows: dict[int, list[_Box]] = {}
    for node in graph.nodes:
        rows.setdefault(graph.depth[node.key], []).append(boxes[node.key])
    widest = max((len(r) * _BOX_W + (len(r) - 1) * _H_GAP for r in rows.values()), default=_BOX_W)

    # Which arrows are straight and which go round by a side lane.
    straight: list[_Edge] = []
    beside: list[_Edge] = []  # between neighbours of one row
    routed: list[tuple[_Edge, str, int]] = []  # edge, "left"/"right", lane number on that side
    lanes = {"left": 0, "right": 0}
    row_height = {d: max(b.height() for b in r) for d, r in rows.items()}
    y = float(_MARGIN + _TOP)
    row_top: dict[int, float] = {}
    for d in sorted(rows):
        row_top[d] = y
        y += row_height[d] + _V_GAP
    content_bottom = y - _V_GAP
    for d, row in rows.items():
        offset = (widest - (len(row) * _BOX_W + (len(row) - 1) * _H_GAP)) / 2
        for i, box in enumerate(row):
            box.x, box.y, box.h = offset + i * (_BOX_W + _H_GAP), row_top[d], row_height[d]
    for edge in graph.edges:
        source, target = boxes[edge.source], boxes[edge.target]
        down = graph.depth[edge.target] > graph.depth[edge.source]
        blocked = down and any(
            _crosses(source.cx, source.bottom, target.cx, target.y, b)
            for b in boxes.values()
            if b not in (source, target)
        )
        if down and not blocked:
            straight.append(edge)
            continue
        row = rows[graph.depth[edge.source]]
        if graph.depth[edge.target] == graph.depth[edge.source] and abs(row.index(source) - row.index(target)) == 1:
            beside.append(edge)
            continue
        side = "left" if source.cx + target.cx < widest else "right"
        lanes[side] += 1
        routed.append((edge, side, lanes[side]))
    # Room for the lanes, and for half the widest label sitting on the outermost one.
    room: dict[str, float] = {side: _MARGIN + (lanes[side] * _LANE + 20 if lanes[side] else 0) for side in lanes}
    for edge, side, _lane in routed:
        room[side] = max(room[side], _MARGIN + lanes[side] * _LANE + 20 + _label_width(edge.label) / 2)
    left_room, right_room = room["left"], room["right"]
    title = _clean(flow.title.get(language, flow.name)) if language in flow.title else flow.name
    heading = _short(f"{title} ({flow.name})", 90)
    legend_width = 6.6 * max(len(line) for line in _LEGEND)
    width = max(left_room + widest + right_room, 11 * len(heading) + 2 * _MARGIN, legend_width + 2 * _MARGIN)
    shift = left_room + (width - left_room - widest - right_room) / 2
    for box in boxes.values():
        box.x += shift
    height = content_bottom + _BOTTOM + _MARGIN + (30 if routed else 0)  # routed arrows may pass below

    def outermost(box: _Box, side: str) -> bool:
        row = rows[graph.depth[box.node.key]]
        return row[-1 if side == "right" else 0] is box

    # Ports: where arrows leave a box's bottom and enter its top, spread in the order of where they head;
    # a routed arrow at the outermost box of its row leaves or enters by the side instead.
    bottoms: dict[str, list[tuple[float, int]]] = {}
    tops: dict[str, list[tuple[float, int]]] = {}
    sides: dict[tuple[str, str], list[tuple[int, str]]] = {}
    for i, edge in enumerate(straight):
        bottoms.setdefault(edge.source, []).append((boxes[edge.target].cx, i))
        tops.setdefault(edge.target, []).append((boxes[edge.source].cx, i))
    for i, (edge, side, lane) in enumerate(routed, start=len(straight)):
        far = -1e6 * lane if side == "left" else 1e6 * lane
        if outermost(boxes[edge.source], side):
            sides.setdefault((edge.source, side), []).append((i, "out"))
        else:
            bottoms.setdefault(edge.source, []).append((far, i))
        if outermost(boxes[edge.target], side):
            sides.setdefault((edge.target, side), []).append((i, "in"))
        else:
            tops.setdefault(edge.target, []).append((far, i))
    port: dict[tuple[int, str], tuple[float, float]] = {}
    for end, wanted_by in (("out", bottoms), ("in", tops)):
        for key, wanted in wanted_by.items():
            box = boxes[key]
            for n, (_, i) in enumerate(sorted(wanted)):
                port[(i, end)] = (_spread(box.x, _BOX_W, len(wanted), n), box.bottom if end == "out" else box.y)
    for (key, side), ends in sides.items():
        box = boxes[key]
        for n, (i, end) in enumerate(ends):
            port[(i, end)] = (box.x if side == "left" else box.right, _spread(box.y, box.h, len(ends), n))

    out: list[str] = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" font-family="{_FONT}">',
        f"<title>{_x(heading)}</title>",
        "<defs>",
        '<marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="8" markerHeight="8" '
        'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#455a64"/></marker>',
        "</defs>",
        "<style>"
        ".name{font-size:14px;font-weight:bold;fill:#1a237e}"
        ".text{font-size:12px;fill:#263238}"
        ".action{font-size:11px;font-style:italic;fill:#6a1b9a}"
        ".edge{fill:none;stroke:#455a64;stroke-width:1.6}"
        ".goto{stroke-dasharray:6 4}"
        ".edge-label{font-size:12px;font-weight:bold;fill:#5d4037}"
        ".legend{font-size:11px;fill:#546e7a}"
        ".heading{font-size:18px;font-weight:bold;fill:#263238}"
        "</style>",
        f'<rect width="{width:.0f}" height="{height:.0f}" fill="#ffffff"/>',
        f'<text x="{_MARGIN}" y="{_MARGIN + 12}" class="heading">{_x(heading)}</text>',
    ]
    labels: list[str] = []
    for i, edge in enumerate(straight):
        (x1, y1), (x2, y2) = port[(i, "out")], port[(i, "in")]
        bend = min(y1 + 40, (y1 + y2) / 2)
        points = [(x1, y1), (x1, bend), (x2, bend), (x2, y2)] if abs(x1 - x2) > 1 else [(x1, y1), (x2, y2)]
        css = "edge goto" if edge.goto else "edge"
        out.append(f'<path d="{_rounded(points)}" class="{css}" marker-end="url(#arrow)"/>')
        if edge.label:
            labels += _label(x2, y2 - 22, edge.label)
    pairs = {(e.source, e.target) for e in beside}
    for edge in beside:
        source, target = boxes[edge.source], boxes[edge.target]
        rightward = target.x > source.x
        both_ways = (edge.target, edge.source) in pairs
        y1 = source.y + source.h / 2 + ((-8 if rightward else 8) if both_ways else 0)
        x1, x2 = (source.right, target.x) if rightward else (source.x, target.right)
        css = "edge goto" if edge.goto else "edge"
        out.append(f'<path d="M{x1:.1f},{y1:.1f} L{x2:.1f},{y1:.1f}" class="{css}" marker-end="url(#arrow)"/>')
        if edge.label:
            labels += _label((x1 + x2) / 2, y1 + (-14 if rightward else 14), edge.label)
    for i, (edge, side, lane) in enumerate(routed, start=len(straight)):
        source, target = boxes[edge.source], boxes[edge.target]
        lane_x = shift - 20 - lane * _LANE if side == "left" else shift + widest + 20 + lane * _LANE
        (x1, y1), (x2, y2) = port[(i, "out")], port[(i, "in")]
        nudge = (lane % 3) * 8
        points = [(x1, y1)]
        if y1 == source.bottom:  # left by the bottom: down into the gap below the row, then across
            gap = source.bottom + 10 + nudge
            points += [(x1, gap), (lane_x, gap)]
        else:
            points += [(lane_x, y1)]
        if y2 == target.y:  # enters by the top: across the gap above the row, then down
            gap = target.y - _V_GAP + 54 + nudge
            points += [(lane_x, gap), (x2, gap)]
        else:
            points += [(lane_x, y2)]
        points.append((x2, y2))
        css = "edge goto" if edge.goto else "edge"
        out.append(f'<path d="{_rounded(points)}" class="{css}" marker-end="url(#arrow)"/>')
        if edge.label:
            labels += _label(lane_x, (points[1][1] + points[-2][1]) / 2, edge.label)
    for box in boxes.values():
        out += _draw_box(box)
    out += labels
    for n, legend in enumerate(_LEGEND):
        y = height - _MARGIN - 16 * (len(_LEGEND) - 1 - n)
        out.append(f'<text x="{_MARGIN}" y="{y:.0f}" class="legend">{_x(legend)}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _draw_box(box: _Box) -> list[str]:
    node = box.node
    x, y, h = box.x, box.y, box.h
    fill, stroke, width, dash = "#e3f2fd", "#1565c0", 1.5, ""
    if node.other_flow:
        fill, stroke, dash = "#f5f5f5", "#616161", ' stroke-dasharray="6 4"'
    elif node.start:
        fill, stroke, width = "#e8f5e9", "#2e7d32", 3.0
    elif node.end:
        fill, stroke = "#fce4ec", "#ad1457"
    full = node.text or node.title
    parts = [
        "<g>",
        f"<title>{_x(node.title)}: {_x(full)}</title>" if node.text else f"<title>{_x(full)}</title>",
        f'<rect x="{x:.1f}" y="{y:.1f}" width="{_BOX_W}" height="{h:.1f}" rx="12" fill="{fill}" '
        f'stroke="{stroke}" stroke-width="{width}"{dash}/>',
    ]
    if node.end:
        parts.append(
            f'<rect x="{x + 4:.1f}" y="{y + 4:.1f}" width="{_BOX_W - 8}" height="{h - 8:.1f}" rx="9" fill="none" '
            f'stroke="{stroke}" stroke-width="1.2"/>'
        )
    if node.action:
        for bar in (x + 10, x + _BOX_W - 10):
            parts.append(
                f'<line x1="{bar:.1f}" y1="{y:.1f}" x2="{bar:.1f}" y2="{y + h:.1f}" stroke="{stroke}" '
                'stroke-width="1.2"/>'
            )
    if node.start:
        parts.append(f'<circle cx="{x - 16:.1f}" cy="{y + 16:.1f}" r="7" fill="#2e7d32"/>')
        parts.append(
            f'<path d="M{x - 9:.1f},{y + 16:.1f} L{x - 1:.1f},{y + 16:.1f}" class="edge" '
            'stroke="#2e7d32" marker-end="url(#arrow)"/>'
        )
    name = _short(node.title, _NAME_CHARS)
    if node.other_flow:
        parts.append(
            f'<text x="{box.cx:.1f}" y="{y + h / 2 + 5:.1f}" text-anchor="middle" class="name">{_x(name)}</text>'
        )
        parts.append("</g>")
        return parts
    parts.append(f'<text x="{box.cx:.1f}" y="{y + 22:.1f}" text-anchor="middle" class="name">{_x(name)}</text>')
    line_y = y + 42
    for line in box.lines:
        parts.append(f'<text x="{box.cx:.1f}" y="{line_y:.1f}" text-anchor="middle" class="text">{_x(line)}</text>')
        line_y += 16
    for note in (f"action: {node.action}" if node.action else "", f"goes on in: {node.goto}" if node.goto else ""):
        if note:
            note = _short(note, _WRAP + 4)
            parts.append(
                f'<text x="{box.cx:.1f}" y="{line_y:.1f}" text-anchor="middle" class="action">{_x(note)}</text>'
            )
            line_y += 16
    parts.append("</g>")
    return parts
