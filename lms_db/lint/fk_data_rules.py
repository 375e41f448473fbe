"""LMS507: rows a foreign key refuses: "Cannot add or update a child row: a foreign key
constraint fails" (error 1452), MySQL 8.0 manual 15.1.20.5 and MariaDB KB "Foreign Keys".

Only literal ``INSERT ... VALUES`` rows are judged, against the parent rows the same input
inserted before (an ``INSERT ... SELECT`` or ``REPLACE`` into the parent makes its rows
unknown, and the check stands down); ``INSERT IGNORE`` skips bad rows instead, and
``FOREIGN_KEY_CHECKS=0`` turns the check off.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from lms_db.lint.dml_parser import literal, parse_insert
from lms_db.lint.findings import Finding, finding
from lms_db.lint.schema import Document, ForeignKeyDef, TableDef
from lms_db.lint.sources import mask

_Rows = dict[str, list[dict[str, object]] | None]  # table -> rows (None: unknown)
_CHANGES_ROWS = re.compile(
    r"^\s*(?:UPDATE|LOAD|CALL|HANDLER|CREATE\s+(?:DEFINER\s*=\s*\S+\s+)?TRIGGER)\b", re.I
)


def check_child_rows(doc: Document) -> Iterator[Finding]:
    """LMS507: an inserted child row whose parent row does not exist."""
    rows: _Rows = {}
    blind = False  # after UPDATE, LOAD DATA, CALL or a trigger, parent rows are unknown
    for pos, stmt in enumerate(doc.statements):
        masked = mask(stmt.text)
        blind = blind or bool(_CHANGES_ROWS.match(masked))
        delete = _DELETE.match(masked)
        if delete and not blind:
            refused = _delete(doc, stmt.text, delete, rows, pos)
            if refused:
                yield finding("LMS507", refused[0], refused[1], stmt.location)
            continue
        insert = parse_insert(stmt)
        if insert is None or blind:
            continue
        table = doc.tables.get(insert.table)
        if table is None:
            continue
        new = _rows(table, insert.columns, insert.rows)
        if new is not None and not insert.ignore and doc.fk_checks_on(pos):
            problem = _orphan(doc, table, new, rows, pos)
            if problem:
                yield finding("LMS507", table.name, problem, stmt.location)
                continue  # the statement fails: its rows are not added
        known = rows.setdefault(table.name, [])
        if new is None or known is None or stmt.text.lstrip()[:7].upper() == "REPLACE":
            rows[table.name] = None
        else:
            known.extend(new)


_DELETE = re.compile(
    r"^\s*DELETE\s+(?:LOW_PRIORITY\s+|QUICK\s+|IGNORE\s+)*FROM\s+`?(?P<table>[\w$]+)`?"
    r"\s*(?:WHERE\s+`?(?P<col>[\w$]+)`?\s*(?P<op>=|IN)\s*(?P<values>.+?))?\s*$",
    re.I | re.S,
)


def _delete(
    doc: Document, text: str, match: re.Match[str], rows: _Rows, pos: int
) -> tuple[str, str] | None:
    """ "Cannot delete or update a parent row" (1451) for RESTRICT / NO ACTION children;
    the rows are removed (CASCADE children lose theirs)."""
    name = match.group("table").lower()
    known = rows.get(name)
    if known is None or "IGNORE" in text[: match.start("table")].upper():
        rows[name] = None if name in rows else rows.get(name)
        return None
    gone = _matching(known, match, text)
    if gone is None:
        rows[name] = None
        return None
    if doc.fk_checks_on(pos):
        for child in doc.tables.values():
            for fk in _active(doc, child, pos):
                if fk.ref_table != name:
                    continue
                if fk.on_delete not in ("", "RESTRICT", "NO ACTION"):
                    rows[child.name] = None  # CASCADE / SET NULL changed them: unknown now
                    continue
                used = _child_keys(rows.get(child.name), fk.cols)
                ref_cols = fk.ref_cols or doc.tables[name].primary_key
                if used is None:
                    continue
                hit = [r for r in gone if tuple(r.get(c) for c in ref_cols) in used]
                if hit:
                    return name, (
                        f"cannot delete a parent row of {name}: {child.name} rows still "
                        f"reference it (foreign key {fk.name}, ON DELETE "
                        f"{fk.on_delete or 'RESTRICT'})"
                    )
    rows[name] = [r for r in known if r not in gone]
    return None


def _matching(
    known: list[dict[str, object]], match: re.Match[str], text: str
) -> list[dict[str, object]] | None:
    """The known rows the DELETE's WHERE picks (``None``: a WHERE lint cannot read)."""
    if match.group("col") is None:
        return list(known)
    column = match.group("col").lower()
    raw = text[match.start("values") : match.end("values")].strip()  # match is on masked text
    if match.group("op").upper() == "IN":
        if not (raw.startswith("(") and raw.endswith(")")):
            return None
        parts = [p for p in raw[1:-1].split(",") if p.strip()]
    else:
        parts = [raw]
    try:
        wanted = {literal(p) for p in parts}
    except ValueError:
        return None
    return [r for r in known if r.get(column) in wanted]


def _child_keys(
    child_rows: list[dict[str, object]] | None, cols: tuple[str, ...]
) -> set[tuple[object, ...]] | None:
    if child_rows is None:
        return None
    return {tuple(r.get(c) for c in cols) for r in child_rows}


def _rows(
    table: TableDef, columns: tuple[str, ...], raw: tuple[tuple[str, ...], ...] | None
) -> list[dict[str, object]] | None:
    if raw is None:
        return None
    names = list(columns) or list(table.columns)
    out: list[dict[str, object]] = []
    for row in raw:
        values: dict[str, object] = {}
        for name, text in zip(names, row, strict=False):
            try:
                values[name] = literal(text)
            except ValueError:
                values[name] = _UNKNOWN
        out.append(values)
    return out


_UNKNOWN = object()


def _orphan(
    doc: Document, table: TableDef, new: list[dict[str, object]], rows: _Rows, pos: int
) -> str:
    for fk in _active(doc, table, pos):
        parent_rows = rows.get(fk.ref_table, [])
        if parent_rows is None:
            continue
        ref_cols = fk.ref_cols or doc.tables[fk.ref_table].primary_key
        keys = {tuple(r.get(c, _UNKNOWN) for c in ref_cols) for r in parent_rows}
        for row in new:
            value = tuple(row.get(c) for c in fk.cols)
            if any(v is None for v in value) or any(v is _UNKNOWN for v in value):
                continue  # NULL satisfies any foreign key; unknown values are not judged
            if any(_UNKNOWN in k for k in keys) or any(
                type(a) is not type(b)
                for k in keys
                for a, b in zip(k, value, strict=True)
                if a is not None
            ):
                break  # unknown parent values, or '1' against 1: not judged
            if value not in keys:
                shown = ", ".join(repr(v) for v in value)
                return (
                    f"cannot add a child row: ({shown}) in {table.name}"
                    f"({', '.join(fk.cols)}) has no parent row in {fk.ref_table} "
                    f"(foreign key {fk.name})"
                )
    return ""


def _active(doc: Document, table: TableDef, pos: int) -> Iterator[ForeignKeyDef]:
    """Foreign keys of ``table`` the server enforces at statement ``pos``."""
    if table.engine not in ("", "INNODB"):
        return
    for fk in table.foreign_keys:
        if fk.inline and not doc.target.mariadb:
            continue
        parent = doc.tables.get(fk.ref_table)
        if parent is None or parent is table or not 0 <= fk.order < pos:
            continue
        if parent.created_at > pos:
            continue
        yield fk


CHECKS = (check_child_rows,)
