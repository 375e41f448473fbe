"""``PARTITION BY ...`` clauses, read from tokens (sqlglot cannot, in CREATE or ALTER).

Covers RANGE/LIST [COLUMNS], [LINEAR] HASH/KEY [ALGORITHM=n], MariaDB's SYSTEM_TIME,
``PARTITIONS n``, ``SUBPARTITION BY`` and the partition definitions with their values.
"""

from __future__ import annotations

from lms_db.lint.ddl_tokens import Cursor, DdlSyntaxError
from lms_db.lint.schema import PartitionDef, PartitionEntry

#: Words that end a partition's or subpartition's options.
_OPTION_WORDS = frozenset(
    {
        "ENGINE",
        "STORAGE",
        "COMMENT",
        "DATA",
        "INDEX",
        "MAX_ROWS",
        "MIN_ROWS",
        "TABLESPACE",
        "NODEGROUP",
    }
)


def parse_partition_by(cur: Cursor, location: str) -> PartitionDef:
    """Read what follows ``PARTITION BY`` (the cursor is just past ``BY``)."""
    linear = cur.accept("LINEAR")
    algorithm = None
    if cur.at("KEY", "ALGORITHM"):
        algorithm = int(t.text) if (t := cur.peek(3)) is not None and t.text.isdigit() else None
    kind, expression = _scheme(cur)
    part = PartitionDef(kind, expression, (), location=location, linear=linear, parsed=True)
    part.algorithm = algorithm
    if cur.accept("PARTITIONS"):
        part.count = cur.integer()
    if cur.accept("SUBPARTITION", "BY"):
        sub_linear = cur.accept("LINEAR")
        part.sub_kind, part.sub_expression = _scheme(cur)
        if sub_linear:
            part.sub_kind = "LINEAR " + part.sub_kind
        if cur.accept("SUBPARTITIONS"):
            part.sub_count = cur.integer()
    if cur.at("("):
        part.partitions = tuple(_definitions(cur))
    return part


def _scheme(cur: Cursor) -> tuple[str, str]:
    tok = cur.next()
    kind = tok.upper
    if kind in ("RANGE", "LIST") and cur.accept("COLUMNS"):
        kind += " COLUMNS"
    elif kind == "KEY" and cur.accept("ALGORITHM"):
        cur.expect("=")
        cur.integer()
    elif kind == "SYSTEM_TIME":  # MariaDB: SYSTEM_TIME [INTERVAL n unit | LIMIT n] ...
        start = tok.end
        while not cur.done() and not any(cur.at(w) for w in ("(", "PARTITIONS", "SUBPARTITION")):
            cur.next()
        return kind, cur.source(start, cur.tokens[cur.pos - 1].end)
    elif kind not in ("RANGE", "LIST", "HASH", "KEY"):
        raise DdlSyntaxError(f"unknown partitioning type {tok.text!r}")
    start, end = cur.group()
    return kind, cur.source(start, end)


def parse_definitions(cur: Cursor) -> list[PartitionEntry]:
    """``(PARTITION p ..., ...)`` at the cursor."""
    return _definitions(cur)


def _definitions(cur: Cursor) -> list[PartitionEntry]:
    cur.expect("(")
    entries: list[PartitionEntry] = []
    while True:
        cur.expect("PARTITION")
        entries.append(_definition(cur))
        if cur.accept(")"):
            return entries
        cur.expect(",")


def _definition(cur: Cursor) -> PartitionEntry:
    entry = PartitionEntry(cur.name())
    if cur.accept("VALUES", "LESS", "THAN"):
        entry.operator = "LESS THAN"
        if cur.accept("MAXVALUE"):
            entry.values = (("MAXVALUE",),)
        else:
            entry.values = (tuple(cur.source(a, b) for a, b in cur.group_items()),)
    elif cur.accept("VALUES", "IN"):
        entry.operator = "IN"
        entry.values = tuple(_in_values(cur))
    elif cur.accept("DEFAULT"):  # MariaDB LIST ... PARTITION p DEFAULT
        entry.operator = "DEFAULT"
    elif cur.at("CURRENT") or cur.at("HISTORY"):
        entry.operator = cur.next().upper
    entry.engine = _options(cur)
    if cur.at("("):
        cur.expect("(")
        subs: list[str] = []
        while True:
            cur.expect("SUBPARTITION")
            subs.append(cur.name())
            _options(cur)
            if cur.accept(")"):
                break
            cur.expect(",")
        entry.subpartitions = tuple(subs)
    return entry


def _in_values(cur: Cursor) -> list[tuple[str, ...]]:
    values: list[tuple[str, ...]] = []
    for start, end in cur.group_items():
        text = cur.text[start:end].strip()
        if text.startswith("(") and text.endswith(")") and _balanced(text[1:-1]):
            values.append(tuple(v.strip() for v in _split_top(text[1:-1])))
        else:
            values.append((" ".join(text.split()),))
    return values


def _balanced(text: str) -> bool:
    depth = 0
    for ch in text:
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if depth < 0:
            return False
    return depth == 0


def _split_top(text: str) -> list[str]:
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return [" ".join(p.split()) for p in parts]


def _options(cur: Cursor) -> str:
    """Skip ``ENGINE = x COMMENT = '...'`` and the like; return the engine if named."""
    engine = ""
    while (tok := cur.peek()) is not None and (tok.upper in _OPTION_WORDS):
        word = cur.next().upper
        if word == "STORAGE":
            cur.accept("ENGINE")
            word = "ENGINE"
        if word in ("DATA", "INDEX"):
            cur.accept("DIRECTORY")
        cur.accept("=")
        value = cur.next()
        if word == "ENGINE":
            engine = value.text.upper()
    return engine
