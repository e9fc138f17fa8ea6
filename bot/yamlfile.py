"""Reading admin-written YAML with line numbers, as YAML 1.2.

YAML 1.2 keeps ``yes``, ``no``, ``on`` and ``off`` as the words the admin
wrote (YAML 1.1 loaders turn them into booleans, which would make an answer
key ``yes`` silently become ``True``). Only ``true`` and ``false`` are
booleans. Mappings keep the line of every key, so errors can name it.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.reader import ReaderError

__all__ = ["YamlProblem", "decode_utf8", "key_line", "node_line", "read_yaml", "read_yaml_text", "show_value"]


class YamlProblem(Exception):
    """The text is not valid YAML; ``line`` is 1-based when known."""

    def __init__(self, line: int | None, problem: str, hint: str) -> None:
        self.line = line
        self.problem = problem
        self.hint = hint
        super().__init__(f"line {line}: {problem}")


def _loader() -> YAML:
    yaml = YAML(typ="rt")
    yaml.version = (1, 2)
    yaml.allow_duplicate_keys = False
    return yaml


@functools.lru_cache(maxsize=256)
def read_yaml_text(text: str) -> Any:
    """Parse YAML 1.2 text into ruamel's line-aware maps and lists.

    The same text gives the same tree, cached: reading is most of what loading
    the flows costs, and the server and tests load unchanged files again and
    again. Callers must treat the tree as read-only.
    """
    try:
        return _loader().load(text)
    except MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = (error.problem or error.context or "not valid YAML").strip()
        if "duplicate key" in str(error):
            return_hint = "each key may appear once in a block; remove or rename the repeated one"
        else:
            return_hint = "check the indentation and quoting on this line or the one before it"
        raise YamlProblem(line, f"YAML syntax error: {problem}", return_hint) from None
    except ReaderError as error:  # a character YAML forbids (control characters): not a MarkedYAMLError
        line = text[: error.position].count("\n") + 1 if isinstance(error.position, int) else None
        character = f"U+{error.character:04X}" if isinstance(error.character, int) else repr(error.character)
        raise YamlProblem(
            line,
            f"the character {character} is not allowed in YAML ({error.reason})",
            "delete it; an editor that shows invisible characters helps",
        ) from None
    except YAMLError as error:
        raise YamlProblem(None, f"YAML syntax error: {error}", "check the file's syntax") from None


def decode_utf8(data: bytes) -> str:
    """``data`` as text; a byte that is not UTF-8 raises :class:`YamlProblem` naming its line and column."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        before = data[: error.start]
        line = before.count(b"\n") + 1
        column = error.start - (before.rfind(b"\n") + 1) + 1
        raise YamlProblem(
            line,
            f"not UTF-8 text: byte {data[error.start]:#04x} at column {column} ({error.reason})",
            "save the file as UTF-8 (and retype the character there)",
        ) from None


def read_yaml(path: Path) -> Any:
    """Read and parse one YAML file (UTF-8)."""
    return read_yaml_text(decode_utf8(path.read_bytes()))


def node_line(node: object) -> int | None:
    """The 1-based line where a map or list starts, if known."""
    if isinstance(node, (CommentedMap, CommentedSeq)):
        return int(node.lc.line) + 1
    return None


def key_line(node: object, key: object) -> int | None:
    """The 1-based line of ``key`` in a map (falls back to the map's line)."""
    if isinstance(node, CommentedMap):
        try:
            return int(node.lc.key(key)[0]) + 1
        except (KeyError, TypeError):
            return node_line(node)
    return node_line(node)


def show_value(value: object) -> str:
    """A value as an error message quotes it to an admin ("a list", "`true`", "`foo`")."""
    if isinstance(value, CommentedMap):
        return "a block of keys"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "`true`" if value else "`false`"
    return f"`{value}`"
