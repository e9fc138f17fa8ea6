"""Row ids in URLs: the ``{name:id}`` path convertor, whose values always fit the id columns.

Starlette's ``int`` convertor matches any number of digits, and a number past
what the column holds reaching a query makes the database raise (SQLite:
"Python int too large to convert to SQLite INTEGER" past 2**63; PostgreSQL:
"integer out of range" past 2**31, ids being INTEGER there), which was a 500.
With ``id`` a path of more than 18 digits matches no route (404), and a number
past :data:`MAX_ROW_ID` becomes -1, an id no row has: the page answers its own
404.
"""

from __future__ import annotations

from starlette.convertors import Convertor, register_url_convertor

__all__ = ["MAX_ROW_ID", "RowIdConvertor", "register_row_ids"]

MAX_ROW_ID = 2**31 - 1
"""The largest id an INTEGER column holds on PostgreSQL (and SQLite)."""
NO_ROW = -1


class RowIdConvertor(Convertor[int]):
    regex = "[0-9]{1,18}"

    def convert(self, value: str) -> int:
        number = int(value)
        return number if number <= MAX_ROW_ID else NO_ROW

    def to_string(self, value: int) -> str:
        if not 0 <= value <= MAX_ROW_ID:
            raise ValueError(f"{value} is not a row id")
        return str(value)


def register_row_ids() -> None:
    """Make ``{name:id}`` available to routes (idempotent); call before building them."""
    register_url_convertor("id", RowIdConvertor())
