"""LMS112: rows and partition selections the server refuses on partitioned tables.

MySQL 8.0 manual 26.2.1/26.2.2: "INSERT INTO h2 VALUES (3, 5); ERROR 1525 (HY000): Table
has no partition for value 3" (a RANGE without MAXVALUE, a LIST without the value, NULL
in a LIST without NULL); 26.5 "Partition Selection": a partition name that does not exist
(1735), ``PARTITION (...)`` on a table that is not partitioned (1747), a row outside the
selected partitions (1748).  ``INSERT IGNORE`` skips such rows instead.  Only literal
values and simple expressions (a column, YEAR/MONTH/TO_DAYS of a date) are judged.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator

from lms_db.lint.column_types import INTEGER_TYPES
from lms_db.lint.dml_parser import parse_insert
from lms_db.lint.findings import Finding, finding
from lms_db.lint.schema import Document, PartitionDef, PartitionEntry, Statement, TableDef
from lms_db.lint.sources import mask

_SELECTION = re.compile(
    r"\b(?:FROM|INTO|UPDATE|JOIN)\s+((?:`[^`]+`|[\w$]+)(?:\s*\.\s*(?:`[^`]+`|[\w$]+))?)"
    r"\s+PARTITION\s*\(([^)]*)\)",
    re.I,
)
_UNKNOWN = object()  # a value lint cannot compute
_FUNCTIONS = {"YEAR", "MONTH", "TO_DAYS", "DAY", "DAYOFMONTH", "TO_SECONDS"}


def check_partition_data(doc: Document) -> Iterator[Finding]:
    """LMS112: inserted rows with no partition, unknown or pointless partition selections."""
    for stmt in doc.statements:
        masked = mask(stmt.text)
        yield from _selections(doc, stmt, masked)
        yield from _insert(doc, stmt)


def _selections(doc: Document, stmt: Statement, masked: str) -> Iterator[Finding]:
    for match in _SELECTION.finditer(masked):
        name = match.group(1).split(".")[-1].strip().strip("`").lower()
        table = doc.tables.get(name)
        if table is None:
            continue
        picked = [n.strip().strip("`").lower() for n in match.group(2).split(",") if n.strip()]
        if table.partition is None:
            yield finding("LMS112", name, "PARTITION () clause on a table that is not "
                          "partitioned", stmt.location)  # fmt: skip
        elif table.partition.parsed:
            known = _names(table.partition)
            missing = [p for p in picked if p not in known]
            if missing:
                yield finding("LMS112", name, f"unknown partition {', '.join(missing)} in "
                              f"table {name}", stmt.location)  # fmt: skip


def _names(part: PartitionDef) -> set[str]:
    if not part.partitions:
        return {f"p{i}" for i in range(part.count or 1)}
    names = {e.name.lower() for e in part.partitions}
    return names | {s.lower() for e in part.partitions for s in e.subpartitions}


def _insert(doc: Document, stmt: Statement) -> Iterator[Finding]:
    insert = parse_insert(stmt)
    if insert is None or insert.rows is None or insert.ignore:
        return
    table = doc.tables.get(insert.table)
    if table is None or table.partition is None or not table.partition.parsed:
        return
    columns = list(insert.columns) or list(table.columns)
    for row in insert.rows:
        values = dict(zip(columns, row, strict=False))
        problem = _row_problem(table, table.partition, values, list(insert.partitions))
        if problem:
            yield finding("LMS112", table.name, problem, stmt.location)
            return


def _row_problem(
    table: TableDef, part: PartitionDef, values: dict[str, str], selected: list[str]
) -> str:
    keys = _keys(table, part, values)
    if keys is None:
        return ""
    home = _partition_for(part, keys)
    if home is None:
        shown = ", ".join("NULL" if k is None else str(k) for k in keys)
        return f"table {table.name} has no partition for value {shown}"
    if selected and home.name.lower() not in selected and not home.subpartitions:
        return f"a row of {table.name} belongs to {home.name}, not the selected partitions"
    return ""


def _keys(table: TableDef, part: PartitionDef, values: dict[str, str]) -> list[object] | None:
    if part.kind in ("HASH", "KEY", "SYSTEM_TIME"):
        return None
    if "COLUMNS" in part.kind:
        names = [c.strip().strip("`").lower() for c in part.expression.split(",")]
        keys = [_literal(table, n, values.get(n, "NULL")) for n in names]
    else:
        keys = [_expression(table, part.expression, values)]
    return None if any(k is _UNKNOWN for k in keys) else keys


def _expression(table: TableDef, expression: str, values: dict[str, str]) -> object:
    text = " ".join(expression.split()).strip("`").lower()
    if text in table.columns:
        return _literal(table, text, values.get(text, "NULL"))
    match = re.fullmatch(r"(\w+)\s*\(\s*`?(\w+)`?\s*\)", text)
    if match and match.group(1).upper() in _FUNCTIONS and match.group(2) in table.columns:
        raw = values.get(match.group(2), "NULL").strip()
        if raw.upper() == "NULL":
            return None
        date = _date(raw)
        return _UNKNOWN if date is None else _apply(match.group(1).upper(), date)
    return _UNKNOWN


def _apply(func: str, date: dt.datetime) -> int:
    days = date.toordinal() + 365
    return {
        "YEAR": date.year, "MONTH": date.month, "DAY": date.day, "DAYOFMONTH": date.day,
        "TO_DAYS": days, "TO_SECONDS": days * 86400 + date.hour * 3600 + date.minute * 60,
    }[func]  # fmt: skip


def _date(raw: str) -> dt.datetime | None:
    if not (raw.startswith("'") and raw.endswith("'")):
        return None
    try:
        return dt.datetime.fromisoformat(raw[1:-1].strip())
    except ValueError:
        return None


def _literal(table: TableDef, column: str, raw: str) -> object:
    raw = raw.strip()
    if raw.upper() == "NULL":
        return None
    col = table.columns.get(column)
    if col is None:
        return _UNKNOWN
    if col.type_name in INTEGER_TYPES and re.fullmatch(r"[-+]?\d+", raw):
        return int(raw)
    if col.type_name in ("DATE", "DATETIME") and _date(raw) is not None:
        return _date(raw)
    return _UNKNOWN


def _partition_for(part: PartitionDef, keys: list[object]) -> PartitionEntry | None:
    if part.kind.startswith("LIST"):
        listed = [_bound(v) for e in part.partitions for t in e.values for v in t]
        if any(v is _UNKNOWN for v in listed):
            return part.partitions[0] if part.partitions else None  # cannot tell: no finding
        for entry in part.partitions:
            if entry.operator == "DEFAULT":
                return entry
            for value_tuple in entry.values:
                if [_bound(v) for v in value_tuple] == keys:
                    return entry
        return None
    if None in keys and "COLUMNS" not in part.kind:
        return part.partitions[0] if part.partitions else None  # NULL sorts lowest
    for entry in part.partitions:
        bounds = [_bound(v) for v in entry.values[0]] if entry.values else []
        if _below(keys, bounds):
            return entry
    return None


def _bound(raw: str) -> object:
    text = raw.strip()
    if text.upper() == "MAXVALUE":
        return "MAXVALUE"
    if text.upper() == "NULL":
        return None
    if re.fullmatch(r"[-+]?\d+", text):
        return int(text)
    date = _date(text)
    if date is not None:
        return date
    match = re.fullmatch(r"(\w+)\s*\(\s*('[^']*')\s*\)", text)
    if match and match.group(1).upper() in _FUNCTIONS:
        day = _date(match.group(2))
        return _UNKNOWN if day is None else _apply(match.group(1).upper(), day)
    return _UNKNOWN


def _below(keys: list[object], bounds: list[object]) -> bool:
    """``keys < bounds`` as RANGE (COLUMNS) compares them; unknown bounds count as above."""
    if bounds == ["MAXVALUE"]:
        return True
    for key, bound in zip(keys, bounds, strict=False):
        if bound == "MAXVALUE" or bound is _UNKNOWN:
            return True
        if key is None:
            return True
        if key == bound:
            continue
        try:
            return bool(key < bound)  # type: ignore[operator]
        except TypeError:
            return True
    return False


CHECKS = (check_partition_data,)
