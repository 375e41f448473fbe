"""LMS211-LMS212: functional key parts (MySQL 8.0.13+) and keys on generated columns.

MySQL 8.0 manual 15.1.15 "Functional Key Parts" and 15.1.20.8 "Secondary Indexes and
Generated Columns"; MariaDB has no functional key parts (LMS602 names them there).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from lms_db.lint.findings import Finding, finding
from lms_db.lint.schema import Document, KeyPart, TableDef

#: Functions a functional key part may not call (not deterministic).
_NONDETERMINISTIC = re.compile(
    r"\b(RAND|NOW|UUID|UUID_SHORT|SYSDATE|CURRENT_TIMESTAMP|CURRENT_DATE|CURRENT_TIME|CURDATE|"
    r"CURTIME|UNIX_TIMESTAMP|CONNECTION_ID|USER|CURRENT_USER|LAST_INSERT_ID|FOUND_ROWS|"
    r"LOCALTIME|LOCALTIMESTAMP|UTC_TIMESTAMP|UTC_DATE|UTC_TIME|VERSION|DATABASE)\s*\(",
    re.I,
)
#: Expressions whose result is JSON or long text: need CAST(... AS CHAR(n)) first.
_JSON_RESULT = re.compile(
    r"^\(*\s*(?:[`\w]+\s*->>?|JSON_(?:EXTRACT|UNQUOTE|OBJECT|ARRAY)\s*\()", re.I
)


def check_functional_parts(doc: Document) -> Iterator[Finding]:
    """LMS211: functional key parts MySQL 8 refuses."""
    if doc.target.mariadb:
        return
    for table in doc.tables.values():
        keys = [("PRIMARY KEY", "primary", table.pk_parts, table.pk_location)]
        keys += [(f"UNIQUE {u.name}", "unique", u.parts, u.location) for u in table.uniques]
        keys += [(f"INDEX {i.name}", i.kind, i.parts, i.location) for i in table.indexes]
        for label, kind, parts, location in keys:
            for part in parts:
                if part.expression:
                    for problem in _problems(table, kind, part):
                        yield finding(
                            "LMS211", table.name, f"{label}: {problem}", location or table.source
                        )


def _problems(table: TableDef, kind: str, part: KeyPart) -> Iterator[str]:
    expr = part.expression.strip()
    if not (expr.startswith("(") and expr.endswith(")")):
        yield f"a functional key part must be in parentheses: (({expr}))"
        return
    inner = expr[1:-1].strip().strip("`").lower()
    if inner in table.columns:
        yield f"a functional key part cannot be only a column name ({inner})"
    if kind == "primary":
        yield "functional key parts cannot be in a PRIMARY KEY"
    if kind in ("spatial", "fulltext"):
        yield f"functional key parts cannot be in a {kind.upper()} index"
    if _NONDETERMINISTIC.search(expr):
        yield f"{expr} is not deterministic"
    if _JSON_RESULT.match(expr[1:]):
        yield f"{expr} returns JSON or long text: CAST it (CAST(... AS CHAR(n)))"
    autos = [n for n, c in table.columns.items() if c.auto_increment]
    if any(re.search(rf"(?<![\w`]){re.escape(a)}(?![\w`])", expr, re.I) for a in autos):
        yield "a functional key part cannot refer to an AUTO_INCREMENT column"


def check_generated_keys(doc: Document) -> Iterator[Finding]:
    """LMS212: a PRIMARY KEY on a generated column (MySQL: on a VIRTUAL one; MariaDB: any),
    and foreign keys on or to generated columns that InnoDB refuses."""
    mariadb = doc.target.mariadb
    for table in doc.tables.values():
        for col_name in table.primary_key:
            col = table.columns.get(col_name)
            if col is not None and col.generated and (mariadb or not col.stored):
                yield finding(
                    "LMS212",
                    table.name,
                    f"primary key on generated column {col_name}",
                    table.pk_location or table.source,
                )
        for fk in table.foreign_keys:
            if fk.inline and not mariadb:
                continue
            where = fk.location or table.source
            for problem in _fk_problems(
                doc, table, fk.cols, fk.ref_table, fk.ref_cols, (fk.on_delete, fk.on_update)
            ):
                yield finding("LMS212", table.name, f"foreign key {fk.name}: {problem}", where)


def _fk_problems(
    doc: Document,
    table: TableDef,
    cols: tuple[str, ...],
    ref_table: str,
    ref_cols: tuple[str, ...],
    actions: tuple[str, str],
) -> Iterator[str]:
    on_delete, on_update = actions
    for name in cols:
        col = table.columns.get(name)
        if col is None or not col.generated or not col.stored:
            continue
        if on_update in ("CASCADE", "SET NULL", "SET DEFAULT"):
            yield f"ON UPDATE {on_update} on generated column {name}"
        if on_delete in ("SET NULL", "SET DEFAULT"):
            yield f"ON DELETE {on_delete} on generated column {name}"
    if doc.target.mariadb:
        return
    parent = doc.tables.get(ref_table)
    for name in ref_cols:
        ref = parent.columns.get(name) if parent is not None else None
        if ref is not None and ref.generated and not ref.stored:
            yield f"references virtual generated column {ref_table}.{name}"
    bases = {
        word.lower()
        for c in table.columns.values()
        if c.generated and c.stored
        for word in re.findall(r"[`\w]+", c.expression)
    }
    changing = {a for a in actions if a in ("CASCADE", "SET NULL", "SET DEFAULT")}
    for name in cols:
        if name in bases and changing:
            yield (
                f"{'/'.join(sorted(changing))} on {name}, a base column of a stored "
                "generated column"
            )


CHECKS = (check_functional_parts, check_generated_keys)
