"""``INSERT ... VALUES`` rows with literal values, for the rules that judge data
(partitions a row fits, foreign keys a row satisfies)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from lms_db.lint.ddl_tokens import Cursor, DdlSyntaxError, tokenize
from lms_db.lint.schema import Statement
from lms_db.lint.sources import mask

_INSERT = re.compile(r"^\s*(?:INSERT|REPLACE)\b", re.I)
_PRIORITY = ("LOW_PRIORITY", "DELAYED", "HIGH_PRIORITY", "IGNORE")


@dataclass(frozen=True)
class InsertRows:
    """One INSERT: its table, flags, named columns (empty: the table's order) and rows
    (each value as written, ``None`` when the statement is ``INSERT ... SELECT``)."""

    table: str
    ignore: bool
    partitions: tuple[str, ...]
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...] | None


def parse_insert(stmt: Statement) -> InsertRows | None:
    """The rows of an ``INSERT``/``REPLACE`` statement; ``None`` for anything else."""
    if not _INSERT.match(mask(stmt.text)):
        return None
    try:
        return _parse(stmt.text)
    except DdlSyntaxError:
        return None


def _parse(text: str) -> InsertRows:
    cur = Cursor(tokenize(text), text)
    cur.next()
    ignore = False
    while (tok := cur.peek()) is not None and tok.upper in _PRIORITY:
        ignore = ignore or tok.upper == "IGNORE"
        cur.next()
    cur.accept("INTO")
    table = cur.name()
    partitions: tuple[str, ...] = ()
    if cur.accept("PARTITION"):
        partitions = tuple(_items(cur))
    columns: tuple[str, ...] = ()
    if cur.at("(") and not cur.at("(", "SELECT"):
        columns = tuple(_items(cur))
    if not (cur.accept("VALUES") or cur.accept("VALUE")):
        return InsertRows(table, ignore, partitions, columns, None)
    rows: list[tuple[str, ...]] = []
    while cur.accept("ROW") or cur.at("("):
        rows.append(tuple(cur.text[a:b].strip() for a, b in cur.group_items()))
        if not cur.accept(","):
            break
    return InsertRows(table, ignore, partitions, columns, tuple(rows))


def _items(cur: Cursor) -> list[str]:
    return [cur.text[a:b].strip().strip("`").lower() for a, b in cur.group_items()]


def literal(raw: str) -> object:
    """A comparable form of a literal (``None`` for NULL); raises ValueError otherwise."""
    text = raw.strip()
    if text.upper() == "NULL":
        return None
    if re.fullmatch(r"[-+]?\d+", text):
        return int(text)
    match = re.fullmatch(r"[nN]?'((?:[^'\\]|\\.|'')*)'|\"((?:[^\"\\]|\\.)*)\"", text, re.S)
    if match:
        value = match.group(1) if match.group(1) is not None else match.group(2)
        return value.replace("''", "'").rstrip(" ").lower()  # PAD SPACE, _ci collations
    raise ValueError(text)
