"""LMS107-LMS110: partition definitions, subpartitioning, tables that cannot be
partitioned, and ``KEY()`` with nothing to resolve to (MySQL 8.0 manual ch. 26)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator

from lms_db.lint.column_types import INTEGER_TYPES, SPATIAL_TYPES
from lms_db.lint.findings import Finding, finding
from lms_db.lint.schema import Document, PartitionDef, TableDef

MAX_PARTITIONS = 8192
_INT = re.compile(r"^[-+]?\d+$")
_STRING = re.compile(r"^[nN]?'(.*)'$|^\"(.*)\"$", re.S)
_DATE_CALL = re.compile(r"^(TO_DAYS|TO_SECONDS|YEAR|UNIX_TIMESTAMP)\s*\(\s*'([^']*)'\s*\)$", re.I)


def _partitioned(doc: Document) -> Iterator[tuple[TableDef, PartitionDef]]:
    for table in doc.tables.values():
        if table.partition is not None and table.partition.parsed:
            yield table, table.partition


def check_definitions(doc: Document) -> Iterator[Finding]:
    """LMS107: the partition list must fit the partitioning type and be consistent."""
    for table, part in _partitioned(doc):
        for problem in _definition_problems(table, part):
            yield finding("LMS107", table.name, problem, part.location or table.source)


def _definition_problems(table: TableDef, part: PartitionDef) -> Iterator[str]:
    kind, entries = part.kind, part.partitions
    ranged, listed = kind.startswith("RANGE"), kind.startswith("LIST")
    if part.linear and (ranged or listed):
        yield f"LINEAR applies to HASH and KEY only, not {kind}"
    if (ranged or listed) and not entries:
        yield f"for {kind.split()[0]} partitions each partition must be defined"
    if part.count is not None and part.count == 0:
        yield "PARTITIONS 0 is not an allowed number of partitions"
    if part.count is not None and entries and part.count != len(entries):
        yield f"PARTITIONS {part.count} but {len(entries)} partitions are defined"
    subs = max([part.sub_count or 0] + [len(e.subpartitions) for e in entries]) or 1
    if max(part.count or 0, len(entries)) * subs > MAX_PARTITIONS:
        yield f"more than {MAX_PARTITIONS} partitions (subpartitions included)"
    if part.algorithm is not None and part.algorithm not in (1, 2):
        yield f"KEY ALGORITHM={part.algorithm}: only 1 and 2 exist"
    names = [e.name.lower() for e in entries] + [
        s.lower() for e in entries for s in e.subpartitions
    ]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        yield f"duplicate partition name {', '.join(dupes)}"
    if kind == "SYSTEM_TIME":
        yield from _system_time(table, part)
        return
    wanted = "LESS THAN" if ranged else "IN" if listed else ""
    for entry in entries:
        if entry.operator in ("DEFAULT", "CURRENT", "HISTORY"):
            continue
        if entry.operator != wanted:
            got = f"VALUES {entry.operator}" if entry.operator else "no VALUES clause"
            need = f"VALUES {wanted}" if wanted else "no VALUES clause"
            yield f"partition {entry.name} has {got}; {kind} partitioning needs {need}"
    if ranged and all(e.operator == "LESS THAN" for e in entries):
        yield from _range_values(table, part)
    if listed and all(e.operator in ("IN", "DEFAULT") for e in entries):
        yield from _list_values(table, part)


def _system_time(table: TableDef, part: PartitionDef) -> Iterator[str]:
    """MariaDB KB "System-Versioned Tables": SYSTEM_TIME partitions need a system-versioned
    table (4124), "at least one HISTORY and exactly one last CURRENT" (4128), LIMIT > 0."""
    if not table.system_versioned:
        yield f"table {table.name} is not system-versioned (WITH SYSTEM VERSIONING)"
    kinds = [e.operator for e in part.partitions]
    if kinds and (kinds[-1] != "CURRENT" or kinds.count("CURRENT") != 1 or "HISTORY" not in kinds):
        yield "SYSTEM_TIME partitions: at least one HISTORY and exactly one last CURRENT"
    if not kinds and part.count is not None and part.count < 2:
        yield "SYSTEM_TIME partitions: at least one HISTORY and one CURRENT (PARTITIONS >= 2)"
    if re.search(r"\bLIMIT\s+0\b", part.expression, re.I):
        yield "SYSTEM_TIME LIMIT must be positive"


def _width(part: PartitionDef) -> int:
    return (
        len([c for c in part.expression.split(",") if c.strip()]) if "COLUMNS" in part.kind else 1
    )


def _range_values(table: TableDef, part: PartitionDef) -> Iterator[str]:
    previous: tuple[object, ...] | None = None
    for pos, entry in enumerate(part.partitions):
        values = entry.values[0] if entry.values else ()
        if tuple(v.upper() for v in values) == ("MAXVALUE",) and "COLUMNS" not in part.kind:
            if pos != len(part.partitions) - 1:
                yield f"MAXVALUE can only be used in the last partition ({entry.name})"
            previous = None
            continue
        if len(values) != _width(part):
            yield f"partition {entry.name} has {len(values)} value(s) for {_width(part)} column(s)"
            return
        keys = []
        for col, raw in zip(_value_columns(table, part), values, strict=False):
            problem, key = _value(table, part, col, raw, allow_max=True)
            if problem:
                yield f"partition {entry.name}: {problem}"
                return
            keys.append(key)
        current = tuple(keys)
        comparable = previous is not None and None not in current and None not in previous
        if comparable and previous is not None and not _less(previous, current):
            yield f"VALUES LESS THAN must be strictly increasing (partition {entry.name})"
        previous = current if None not in current else None


def _less(a: tuple[object, ...], b: tuple[object, ...]) -> bool:
    for x, y in zip(a, b, strict=True):
        if x == y:
            continue
        if x == _MAX:
            return False
        if y == _MAX:
            return True
        return bool(x < y)  # type: ignore[operator]
    return False


_MAX = "\U0010ffffMAXVALUE"


def _value_columns(table: TableDef, part: PartitionDef) -> list[str]:
    if "COLUMNS" in part.kind:
        return [c.strip().strip("`").lower() for c in part.expression.split(",") if c.strip()]
    return [""]


def _value(
    table: TableDef, part: PartitionDef, col_name: str, raw: str, *, allow_max: bool
) -> tuple[str, object]:
    """(problem, comparable key or None) for one partition value."""
    text = raw.strip()
    if text.upper() == "MAXVALUE":
        return ("" if allow_max else "MAXVALUE cannot be used in VALUES IN"), _MAX
    if text.upper() == "NULL":
        return ("NULL is not allowed in VALUES LESS THAN" if allow_max else ""), None
    string = _STRING.match(text)
    col = table.columns.get(col_name) if col_name else None
    if col_name:  # COLUMNS partitioning: literals of the column's type
        if col is None:
            return "", None
        if col.type_name in INTEGER_TYPES:
            return (
                ("", int(text)) if _INT.match(text) else ("value of incorrect type " + text, None)
            )
        if string is None:
            return f"value {text} of incorrect type for {col.type_name} column {col_name}", None
        return "", (string.group(1) or string.group(2) or "")
    if string is not None or re.match(r"^[-+]?\d*\.\d+$|^[-+]?\d+\.\d*$", text):
        return f"value {text} must be an integer", None
    if _INT.match(text):
        return "", int(text)
    call = _DATE_CALL.match(text)
    if call:
        return "", _date_key(call.group(1).upper(), call.group(2))
    return "", None


def _date_key(func: str, literal: str) -> int | None:
    try:
        stamp = dt.datetime.fromisoformat(literal.strip())
    except ValueError:
        return None
    days = stamp.toordinal() + 365
    if func == "TO_DAYS":
        return days
    if func == "YEAR":
        return stamp.year
    seconds = days * 86400 + stamp.hour * 3600 + stamp.minute * 60 + stamp.second
    return seconds


def _list_values(table: TableDef, part: PartitionDef) -> Iterator[str]:
    seen: set[tuple[object, ...]] = set()
    width = _width(part)
    columns = _value_columns(table, part)
    for entry in part.partitions:
        for values in entry.values:
            if len(values) != width:
                yield f"partition {entry.name}: a value list of {len(values)} for {width} column(s)"
                return
            keys = []
            for col, raw in zip(
                columns * width if not columns[0] else columns, values, strict=False
            ):
                problem, key = _value(table, part, col, raw, allow_max=False)
                if problem:
                    yield f"partition {entry.name}: {problem}"
                    return
                keys.append(key if key is not None else ("NULL",))
            current = tuple(keys)
            if current in seen:
                yield f"multiple definition of the same value in LIST partitioning ({entry.name})"
            seen.add(current)


def check_subpartitions(doc: Document) -> Iterator[Finding]:
    """LMS108: subpartitions need RANGE/LIST partitions and one count for all."""
    for table, part in _partitioned(doc):
        subs = [len(e.subpartitions) for e in part.partitions]
        problems = []
        if part.sub_kind and part.sub_kind.removeprefix("LINEAR ") not in ("HASH", "KEY"):
            problems.append(f"subpartitions use HASH or KEY, not {part.sub_kind}")
        if part.sub_kind and not part.kind.startswith(("RANGE", "LIST", "SYSTEM_TIME")):
            problems.append("only RANGE or LIST partitions can be subpartitioned")
        if any(subs) and not part.sub_kind:
            problems.append("subpartitions defined without SUBPARTITION BY")
        if any(subs) and (len(set(subs)) > 1 or (part.sub_count and subs[0] != part.sub_count)):
            problems.append("every partition must define the same number of subpartitions")
        if part.sub_count == 0:
            problems.append("SUBPARTITIONS 0 is not an allowed number")
        for problem in problems:
            yield finding("LMS108", table.name, problem, part.location or table.source)


def check_unpartitionable(doc: Document) -> Iterator[Finding]:
    """LMS109: TEMPORARY tables, spatial columns, mixed or (MySQL 8) non-InnoDB engines."""
    for table, part in _partitioned(doc):
        problems = []
        if table.temporary:
            problems.append("a TEMPORARY table cannot be partitioned")
        spatial = [n for n, c in table.columns.items() if c.type_name in SPATIAL_TYPES]
        if spatial:
            problems.append(
                f"spatial column(s) {', '.join(spatial)} cannot be in a partitioned table"
            )
        engines = {e.engine for e in part.partitions if e.engine} | ({table.engine} - {""})
        if engines & {"CSV", "MERGE", "MRG_MYISAM", "FEDERATED"}:
            problems.append(f"the {', '.join(sorted(engines))} engine cannot be partitioned")
        elif len(engines) > 1:
            problems.append(f"partitions mix storage engines ({', '.join(sorted(engines))})")
        if not doc.target.mariadb and engines - {
            "INNODB",
            "NDB",
            "NDBCLUSTER",
            "CSV",
            "MERGE",
            "MRG_MYISAM",
            "FEDERATED",
        }:
            problems.append(
                f"MySQL 8 partitions InnoDB and NDB tables only, not {', '.join(sorted(engines))}"
            )
        for problem in problems:
            yield finding("LMS109", table.name, problem, part.location or table.source)


def check_key_without_key(doc: Document) -> Iterator[Finding]:
    """LMS110: ``PARTITION BY KEY()`` on a table with no primary or NOT NULL unique key."""
    for table, part in _partitioned(doc):
        for kind, expression, cols in (
            (part.kind, part.expression, part.columns),
            (part.sub_kind.removeprefix("LINEAR "), part.sub_expression, part.sub_columns),
        ):
            if kind == "KEY" and not expression.strip() and not cols:
                yield finding(
                    "LMS110",
                    table.name,
                    "KEY() names no column and the table has "
                    "no primary key (or NOT NULL unique key) to use",
                    part.location or table.source,
                )


def check_partition_management(doc: Document) -> Iterator[Finding]:
    """LMS111: ALTER TABLE partition operations the server refuses (26.3)."""
    for table in doc.tables.values():
        for message, location in table.alter_problems:
            yield finding("LMS111", table.name, message, location or table.source)


CHECKS = (
    check_definitions,
    check_subpartitions,
    check_unpartitionable,
    check_key_without_key,
    check_partition_management,
)
