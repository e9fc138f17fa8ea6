"""Secrets are compared in constant time: no ``==``/``!=`` on a secret, token, signature, CSRF token or password.

The test reads every module of ``bot/`` and ``adapters/`` (ast) and fails on
an equality comparison where either side names such a value, so a new
``if sent == token:`` fails the suite. Comparing a value with a constant
(``token == ""``, ``is None``) leaks nothing and is allowed, and so is a
column of an SQL lookup (``SESSIONS.c.token_hash == token_hash(token)``:
the database finds the row by the hash of a long random token). What must
be used instead: :func:`hmac.compare_digest` (or argon2's ``verify``).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SECRET = re.compile(r"secret|token|signature|csrf|passw|api_?key|digest|hmac|otp|one_time|code_hash", re.IGNORECASE)


def named(node: ast.expr) -> str:
    """The identifier a comparison side is about (``sent_token``, ``self._secret``, ``headers['x-signature']``)."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Subscript):
        key = node.slice
        return f"{named(node.value)}[{key.value if isinstance(key, ast.Constant) else ''}]"
    if isinstance(node, ast.Call):
        return named(node.func)
    return ""


def is_sql_column(node: ast.expr) -> bool:
    """``TABLE.c.column``: a comparison built into an SQL statement, not run in Python."""
    return isinstance(node, ast.Attribute) and isinstance(node.value, ast.Attribute) and node.value.attr == "c"


def unsafe_comparisons(source: str, path: str) -> list[str]:
    found: list[str] = []
    for node in ast.walk(ast.parse(source, path)):
        if not isinstance(node, ast.Compare):
            continue
        sides = [node.left, *node.comparators]
        for op, left, right in zip(node.ops, sides, sides[1:], strict=False):
            if not isinstance(op, ast.Eq | ast.NotEq):
                continue
            if isinstance(left, ast.Constant) or isinstance(right, ast.Constant):
                continue
            if is_sql_column(left) or is_sql_column(right):
                continue
            names = f"{named(left)} {named(right)}"
            if SECRET.search(names):
                found.append(f"{path}:{node.lineno}: {ast.unparse(node)}")
    return found


def test_the_check_catches_a_plain_comparison() -> None:
    bad = "def ok(sent, secret):\n    return sent == secret\n"
    assert unsafe_comparisons(bad, "example.py") == ["example.py:2: sent == secret"]
    assert unsafe_comparisons("x = request.headers['x-signature'] != expected\n", "e.py")
    assert unsafe_comparisons("ok = self._token == token\n", "e.py")
    assert unsafe_comparisons("ok = token == ''\n", "e.py") == []
    assert unsafe_comparisons("q = SESSIONS.c.token_hash == token_hash(token)\n", "e.py") == []


def test_no_secret_is_compared_with_equality_in_bot_or_adapters() -> None:
    found: list[str] = []
    for folder in ("bot", "adapters"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            if "testing" in path.relative_to(ROOT).parts:
                continue  # the local fake platforms check nothing secret
            found += unsafe_comparisons(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT)))
    assert found == [], "compare these with hmac.compare_digest:\n" + "\n".join(found)
