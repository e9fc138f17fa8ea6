"""Row ids in URLs: the ``{name:id}`` path convertor (at most 18 digits, so any match fits a 64-bit column).

Starlette's ``int`` convertor matches any number of digits, and a number past
2**63 reaching a query makes the database driver raise (SQLite: "Python int too
large to convert to SQLite INTEGER"), which was a 500. With ``id`` such a path
matches no route: a 404.
"""

from __future__ import annotations

from starlette.convertors import Convertor, register_url_convertor

__all__ = ["MAX_ROW_ID", "RowIdConvertor", "register_row_ids"]

MAX_ROW_ID = 2**63 - 1


class RowIdConvertor(Convertor[int]):
    regex = "[0-9]{1,18}"

    def convert(self, value: str) -> int:
        return int(value)

    def to_string(self, value: int) -> str:
        if not 0 <= value <= MAX_ROW_ID:
            raise ValueError(f"{value} is not a row id")
        return str(value)


def register_row_ids() -> None:
    """Make ``{name:id}`` available to routes (idempotent); call before building them."""
    register_url_convertor("id", RowIdConvertor())
