"""``ALTER TABLE`` for lint's own parser: added and dropped columns, keys and foreign
keys, PARTITION BY / REMOVE PARTITIONING, and the partition operations (ADD, DROP,
COALESCE, REORGANIZE, TRUNCATE... PARTITION) with what the server refuses in them
(MySQL 8.0 manual 26.3, "Partition Management")."""

from __future__ import annotations

import re
from dataclasses import replace

from lms_db.lint.ddl_parser import (
    STRING_TYPES,
    column_definition,
    element,
    element_here,
    finish_columns,
    location_of,
)
from lms_db.lint.ddl_tokens import Cursor, tokenize
from lms_db.lint.partition_parser import parse_definitions, parse_partition_by
from lms_db.lint.schema import IndexDef, PartitionDef, Statement, TableDef, UniqueKey

_INPLACE = re.compile(r"\bALGORITHM\s*=?\s*INPLACE\b", re.I)
_PARTITION_OPTIONS = (("PARTITION", "BY"), ("REMOVE", "PARTITIONING"))
#: Operations that name existing partitions (``ALL`` allowed).
_NAMING_OPS = ("TRUNCATE", "ANALYZE", "CHECK", "OPTIMIZE", "REBUILD", "REPAIR", "DISCARD", "IMPORT")


def parse_alter_table(stmt: Statement, text: str, tables: dict[str, TableDef]) -> str:
    """Apply ``ALTER TABLE t ...`` to ``tables[t]``; returns ``t`` (unknown tables: no-op).

    :raises DdlSyntaxError: the statement is not one this parser reads.
    """
    cur = Cursor(tokenize(text), text)
    cur.expect("ALTER")
    while cur.accept("ONLINE") or cur.accept("IGNORE"):
        pass
    cur.expect("TABLE")
    cur.accept("IF", "EXISTS")
    name = cur.name()
    tdef = tables.get(name)
    if tdef is None:
        return name
    while not cur.done():
        _action(cur, tdef, stmt, tables)
        # partition options follow the other alterations without a comma
        if not cur.accept(",") and not any(cur.at(*w) for w in _PARTITION_OPTIONS):
            break
    finish_columns(tdef)
    if _INPLACE.search(text):
        tdef.inplace_foreign_keys += [
            (fk.name, fk.location) for fk in tdef.foreign_keys if fk.order < 0
        ]
    return tdef.name


def _action(cur: Cursor, tdef: TableDef, stmt: Statement, tables: dict[str, TableDef]) -> None:
    first = cur.peek()
    where = location_of(stmt, first)
    if _column_action(cur, tdef, where, tables):
        return
    if cur.accept("PARTITION", "BY"):
        tdef.partition = parse_partition_by(cur, where)
    elif cur.accept("REMOVE", "PARTITIONING"):
        tdef.partition = None
    elif cur.accept("ADD", "PARTITION"):
        _add_partition(cur, tdef, where)
    elif cur.accept("DROP", "PARTITION"):
        _drop_partition(cur, tdef, where)
    elif cur.accept("COALESCE", "PARTITION"):
        _coalesce(cur, tdef, where)
    elif cur.accept("REORGANIZE", "PARTITION"):
        _reorganize(cur, tdef, where)
    elif cur.accept("EXCHANGE", "PARTITION"):
        part = _managed(tdef, where)
        names = [cur.name()]
        if part is not None:
            _require(tdef, part, names, where)
        cur.skip_to_item_end()
    elif any(cur.at(op, "PARTITION") for op in _NAMING_OPS):
        cur.pos += 2
        part = _managed(tdef, where)
        names = _names(cur)
        if part is not None and names != ["all"]:
            _require(tdef, part, names, where)
    elif cur.accept("ADD"):
        if cur.at("PERIOD"):
            cur.skip_to_item_end()
            return
        cur.accept("COLUMN")
        cur.accept("IF", "NOT", "EXISTS")
        if cur.at("("):
            for start, end in cur.group_items():
                sub = Cursor([t for t in cur.tokens if start <= t.start < end], cur.text)
                element(sub, tdef, stmt)
        else:
            element_here(cur, tdef, stmt)
    elif cur.accept("DROP"):
        _drop(cur, tdef)
    elif cur.accept("ENGINE"):
        cur.accept("=")
        tdef.engine = cur.next().text.upper()
    else:
        cur.skip_to_item_end()


def _column_action(cur: Cursor, tdef: TableDef, where: str, tables: dict[str, TableDef]) -> bool:
    """MODIFY, CHANGE, RENAME (column, index, table), CONVERT TO CHARACTER SET."""
    if cur.accept("MODIFY"):
        cur.accept("COLUMN")
        cur.accept("IF", "EXISTS")
        column_definition(cur, tdef, where, cur.name(), new=False)
    elif cur.accept("CHANGE"):
        cur.accept("COLUMN")
        cur.accept("IF", "EXISTS")
        old = cur.name()
        new = cur.name()
        _rename_column(tdef, old, new)
        column_definition(cur, tdef, where, new, new=False)
    elif cur.accept("RENAME", "COLUMN"):
        old = cur.name()
        cur.expect("TO")
        _rename_column(tdef, old, cur.name())
    elif cur.accept("RENAME", "INDEX") or cur.accept("RENAME", "KEY"):
        old = cur.name()
        cur.expect("TO")
        new = cur.name()
        keys: list[IndexDef | UniqueKey] = [*tdef.indexes, *tdef.uniques]
        for index in keys:
            if index.name.lower() == old:
                index.name = new
    elif cur.accept("RENAME"):
        cur.accept("TO") or cur.accept("AS")
        new = cur.name()
        tables.pop(tdef.name, None)
        tdef.name = new
        tables[new] = tdef
    elif cur.accept("CONVERT", "TO", "CHARACTER", "SET") or cur.accept("CONVERT", "TO", "CHARSET"):
        tdef.charset = cur.next().text.lower()
        tdef.collation = cur.next().text.lower() if cur.accept("COLLATE") else ""
        for col in tdef.columns.values():
            if col.type_name in STRING_TYPES:
                col.charset, col.collation = tdef.charset, tdef.collation
    else:
        return False
    return True


def _rename_column(tdef: TableDef, old: str, new: str) -> None:
    if old in tdef.columns and old != new:
        tdef.columns = {(new if k == old else k): v for k, v in tdef.columns.items()}
    swap = {old: new}
    tdef.primary_key = tuple(swap.get(c, c) for c in tdef.primary_key)
    tdef.pk_parts = tuple(replace(p, column=swap.get(p.column, p.column)) for p in tdef.pk_parts)
    keys: list[IndexDef | UniqueKey] = [*tdef.indexes, *tdef.uniques]
    for key in keys:
        key.cols = tuple(swap.get(c, c) for c in key.cols)
        key.parts = tuple(replace(p, column=swap.get(p.column, p.column)) for p in key.parts)
    for fk in tdef.foreign_keys:
        fk.cols = tuple(swap.get(c, c) for c in fk.cols)


def _drop(cur: Cursor, tdef: TableDef) -> None:
    if cur.accept("PRIMARY", "KEY"):
        tdef.primary_key, tdef.pk_parts = (), ()
        tdef.primary_keys = max(0, tdef.primary_keys - 1)
    elif cur.accept("FOREIGN", "KEY"):
        cur.accept("IF", "EXISTS")
        fk = cur.name()
        tdef.foreign_keys = [f for f in tdef.foreign_keys if f.name.lower() != fk]
    elif cur.accept("INDEX") or cur.accept("KEY"):
        cur.accept("IF", "EXISTS")
        idx = cur.name()
        tdef.indexes = [i for i in tdef.indexes if i.name.lower() != idx]
        tdef.uniques = [u for u in tdef.uniques if u.name.lower() != idx]
    elif not cur.at("CONSTRAINT") and not cur.at("CHECK"):
        cur.accept("COLUMN")
        cur.accept("IF", "EXISTS")
        gone = cur.name()
        tdef.columns.pop(gone, None)
        keys: list[IndexDef | UniqueKey] = [*tdef.indexes, *tdef.uniques]
        for key in keys:  # the server drops the column's key parts
            key.parts = tuple(p for p in key.parts if p.column != gone)
            key.cols = tuple(c for c in key.cols if c != gone)
        tdef.indexes = [i for i in tdef.indexes if i.parts]
        tdef.uniques = [u for u in tdef.uniques if u.parts]
    cur.skip_to_item_end()


def _names(cur: Cursor) -> list[str]:
    names = [cur.name()]
    while cur.at(",") and (tok := cur.peek(1)) is not None and tok.is_name and not _is_action(cur):
        cur.pos += 1
        names.append(cur.name())
    return names


def _is_action(cur: Cursor) -> bool:
    tok = cur.peek(1)
    return tok is not None and tok.upper in ("ADD", "DROP", "ENGINE", "COALESCE", "REORGANIZE")


def _managed(tdef: TableDef, where: str) -> PartitionDef | None:
    part = tdef.partition
    if part is None:
        tdef.alter_problems.append(
            ("partition management on a table that is not partitioned", where)
        )
        return None
    return part if part.parsed else None


def _require(tdef: TableDef, part: PartitionDef, names: list[str], where: str) -> bool:
    known = {e.name.lower() for e in part.partitions}
    if not part.partitions and part.count:  # unnamed HASH/KEY partitions are p0, p1...
        known = {f"p{i}" for i in range(part.count)}
    missing = [n for n in names if n.lower() not in known]
    if missing:
        tdef.alter_problems.append((f"no partition named {', '.join(missing)}", where))
    return not missing


def _add_partition(cur: Cursor, tdef: TableDef, where: str) -> None:
    part = _managed(tdef, where)
    if cur.accept("PARTITIONS"):
        count = cur.integer()
        if part is not None and part.kind.startswith(("RANGE", "LIST")):
            tdef.alter_problems.append((f"{part.kind} partitions must each be defined", where))
        elif part is not None:
            part.count = (part.count or len(part.partitions) or 1) + count
        return
    entries = parse_definitions(cur)
    if part is None:
        return
    if part.kind.startswith(("RANGE", "LIST")):
        part.partitions = part.partitions + tuple(entries)
    else:
        total = (part.count or len(part.partitions) or 1) + len(entries)
        known = part.partitions or tuple(
            replace(entries[0], name=f"p{i}") for i in range(part.count or 1)
        )
        part.partitions, part.count = known + tuple(entries), total


def _drop_partition(cur: Cursor, tdef: TableDef, where: str) -> None:
    part = _managed(tdef, where)
    names = _names(cur)
    if part is None:
        return
    if not part.kind.startswith(("RANGE", "LIST")):
        tdef.alter_problems.append(
            ("DROP PARTITION can only be used on RANGE/LIST partitions", where)
        )
        return
    if not _require(tdef, part, names, where):
        return
    left = tuple(e for e in part.partitions if e.name.lower() not in {n.lower() for n in names})
    if not left:
        tdef.alter_problems.append(("cannot remove all partitions; use DROP TABLE instead", where))
        return
    part.partitions = left


def _coalesce(cur: Cursor, tdef: TableDef, where: str) -> None:
    part = _managed(tdef, where)
    count = cur.integer()
    if part is None:
        return
    if not part.kind.startswith(("HASH", "KEY")):
        tdef.alter_problems.append(
            ("COALESCE PARTITION can only be used on HASH/KEY partitions", where)
        )
        return
    current = part.count or len(part.partitions) or 1
    if count >= current:
        tdef.alter_problems.append(("cannot remove all partitions; use DROP TABLE instead", where))
    elif part.partitions:
        part.partitions, part.count = part.partitions[: current - count], current - count
    else:
        part.count = current - count


def _reorganize(cur: Cursor, tdef: TableDef, where: str) -> None:
    part = _managed(tdef, where)
    names = _names(cur) if not cur.at("INTO") else []
    cur.expect("INTO")
    entries = parse_definitions(cur)
    if part is None or not part.partitions or not names:
        return
    if not _require(tdef, part, names, where):
        return
    dropped = {n.lower() for n in names}
    first = next(i for i, e in enumerate(part.partitions) if e.name.lower() in dropped)
    kept = [e for e in part.partitions if e.name.lower() not in dropped]
    part.partitions = tuple(kept[:first] + entries + kept[first:])
    if part.count is not None:
        part.count = len(part.partitions)
