"""Filling ``{placeholders}`` in flow texts, and picking a text's language."""

from __future__ import annotations

import re
from collections.abc import Mapping

__all__ = ["PLACEHOLDER", "pick", "render"]

PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def pick(texts: Mapping[str, str], language: str, fallback: str) -> str:
    """The text in ``language``, else in ``fallback``, else any."""
    return texts.get(language) or texts.get(fallback) or next(iter(texts.values()), "")


def render(template: str, values: Mapping[str, object]) -> str:
    """Replace each ``{name}`` with its value; unknown names and stray braces stay as written.

    Values are inserted as text, never interpreted again, so a resident who
    writes ``{ticket}`` in a description gets exactly that back.
    """

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        return str(values[name]) if name in values and values[name] is not None else match.group(0)

    return PLACEHOLDER.sub(substitute, template)
