"""The columns a partitioning reads: from its expression or column list, or for ``KEY()``
the primary key (else a NOT NULL unique key)."""

from __future__ import annotations

import re
from collections.abc import Iterable

from lms_db.lint.schema import TableDef

_STRING = re.compile(r"'(?:[^'\\]|\\.|'')*'|\"(?:[^\"\\]|\\.)*\"")
_IDENT = re.compile(r"`([^`]+)`|([A-Za-z_][\w$]*)(?!\s*\()")


def resolve_partition_columns(tdef: TableDef) -> None:
    """The columns the partitioning (and subpartitioning) functions read.

    ``KEY()`` with no column means the primary key, else a unique key of NOT NULL
    columns (MySQL 8.0 manual, 26.2.5 KEY Partitioning).
    """
    part = tdef.partition
    if part is None:
        return
    if part.parsed:
        part.columns = partition_columns(part.kind, part.expression, tdef.columns)
        if part.kind == "KEY" and not part.expression.strip():
            part.columns = implicit_key_columns(tdef)
        if part.sub_kind:
            sub = part.sub_kind.removeprefix("LINEAR ")
            part.sub_columns = partition_columns(sub, part.sub_expression, tdef.columns)
            if sub == "KEY" and not part.sub_expression.strip():
                part.sub_columns = implicit_key_columns(tdef)


def implicit_key_columns(tdef: TableDef) -> tuple[str, ...]:
    """What ``PARTITION BY KEY()`` partitions on: the PK, else the first NOT NULL unique."""
    if tdef.primary_key:
        return tdef.primary_key
    for unique in tdef.uniques:
        columns = [tdef.columns.get(c) for c in unique.cols]
        if columns and all(c is not None and not c.nullable for c in columns):
            return unique.cols
    return ()


def partition_columns(kind: str, expression: str, known: Iterable[str]) -> tuple[str, ...]:
    """The table columns a partitioning expression reads.

    ``COLUMNS`` and ``KEY`` kinds list columns; other kinds are expressions whose
    identifiers not followed by ``(`` are columns (filtered by ``known`` when given).
    """
    known_set = set(known)
    if kind.endswith("COLUMNS") or kind == "KEY":
        cols = [c.strip().strip("`").lower() for c in expression.split(",") if c.strip()]
    else:
        code = _STRING.sub("''", expression)
        cols = [(m.group(1) or m.group(2)).lower() for m in _IDENT.finditer(code)]
        if known_set:
            cols = [c for c in cols if c in known_set]
    return tuple(dict.fromkeys(cols))
