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
from lms_db.lint.partition_ops import partition_action
from lms_db.lint.schema import IndexDef, Statement, TableDef, UniqueKey

_INPLACE = re.compile(r"\bALGORITHM\s*=?\s*INPLACE\b", re.I)
_PARTITION_OPTIONS = (("PARTITION", "BY"), ("REMOVE", "PARTITIONING"))


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
    needed = _fk_needs(tdef, tables)
    while not cur.done():
        _action(cur, tdef, stmt, tables)
        # partition options follow the other alterations without a comma
        if not cur.accept(",") and not any(cur.at(*w) for w in _PARTITION_OPTIONS):
            break
    finish_columns(tdef)
    _check_fk_needs(tdef, tables, needed, location_of(stmt, cur.tokens[0] if cur.tokens else None))
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
    if partition_action(cur, tdef, where, tables):
        return
    if cur.accept("ADD", "SYSTEM", "VERSIONING"):
        tdef.system_versioned = True
        return
    if cur.accept("DROP", "SYSTEM", "VERSIONING"):
        tdef.system_versioned = False
        return
    if cur.accept("ADD"):
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


def _fk_needs(
    tdef: TableDef, tables: dict[str, TableDef]
) -> list[tuple[str, TableDef, tuple[str, ...]]]:
    """The foreign keys of and to ``tdef`` that an index of ``tdef`` serves now:
    (constraint name, table that must keep the index, its columns)."""
    needs = [(fk.name, tdef, fk.cols) for fk in tdef.foreign_keys]
    needs += [
        (fk.name, tdef, fk.ref_cols)
        for other in tables.values()
        for fk in other.foreign_keys
        if fk.ref_table == tdef.name and fk.ref_cols and other is not tdef
    ]
    return [(name, table, cols) for name, table, cols in needs if table.has_index_on(cols)]


def _check_fk_needs(
    tdef: TableDef,
    tables: dict[str, TableDef],
    needed: list[tuple[str, TableDef, tuple[str, ...]]],
    where: str,
) -> None:
    """Dropping the index (or column) a foreign key needs is refused (error 1553/1828)."""
    alive = {fk.name for t in tables.values() for fk in t.foreign_keys}
    for name, table, cols in needed:
        if name in alive and not table.has_index_on(cols):
            what = f"cannot drop the index on ({', '.join(cols)}): foreign key {name} needs it"
            tdef.fk_problems.append((what, where))


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
