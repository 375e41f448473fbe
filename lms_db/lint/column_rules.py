"""LMS403: column definitions the server refuses (MySQL 8.0 manual 13 "Data Types" and
10.4.7 "Limits on Table Column Count and Row Size")."""

from __future__ import annotations

from collections.abc import Iterator

from lms_db.lint.column_types import (
    BLOB_TYPES,
    CHAR_TYPES,
    TEXT_TYPES,
    charset_bytes,
    key_part_bytes,
)
from lms_db.lint.findings import Finding, finding
from lms_db.lint.schema import ColumnDef, Document, TableDef

MAX_ROW_BYTES = 65535
MAX_IDENTIFIER = 64  # table, column, index and constraint names (MySQL 8.0 11.2.1)
LOB_TYPES = TEXT_TYPES | BLOB_TYPES | {"JSON"}
_POINTER_BYTES = {"TINY": 9, "": 10, "MEDIUM": 11, "LONG": 12}


def check_columns(doc: Document) -> Iterator[Finding]:
    """LMS403: duplicate columns, lengths, precisions and row size."""
    for table in doc.tables.values():
        if not table.from_sql:
            continue
        for name in dict.fromkeys(table.duplicate_columns):
            yield finding("LMS403", table.name, f"duplicate column name {name}", table.source)
        if table.columns and all(c.invisible for c in table.columns.values()):
            yield finding(
                "LMS403", table.name, "a table needs at least one visible column", table.source
            )
        if doc.target.mariadb:
            yield from _invisible_without_default(table)
        if not table.columns:
            yield finding(
                "LMS403",
                table.name,
                "a table needs at least one column (ALTER TABLE "
                "cannot drop them all; use DROP TABLE)",
                table.source,
            )
        long_names = [n for n in (table.name, *table.columns) if len(n) > MAX_IDENTIFIER]
        key_names = [i.name for i in table.indexes] + [u.name for u in table.uniques]
        long_names += [n for n in key_names if len(n) > MAX_IDENTIFIER]
        for name in long_names:
            yield finding(
                "LMS403",
                table.name,
                f"identifier {name[:20]}... is {len(name)} characters; at most {MAX_IDENTIFIER}",
                table.source,
            )
        if table.engine == "MEMORY":
            blobs = [n for n, c in table.columns.items() if c.type_name in LOB_TYPES]
            if blobs:
                yield finding(
                    "LMS403",
                    table.name,
                    f"the MEMORY engine has no BLOB/TEXT columns ({', '.join(blobs)})",
                    table.source,
                )
        for name, col in table.columns.items():
            problem = _column_problem(col)
            if problem:
                yield finding(
                    "LMS403", table.name, f"column {name}: {problem}", col.location or table.source
                )
        size = _row_bytes(list(table.columns.values()))
        if size > MAX_ROW_BYTES:
            yield finding(
                "LMS403",
                table.name,
                f"row size {size} bytes is more than "
                f"{MAX_ROW_BYTES} (not counting BLOB/TEXT contents); use TEXT or BLOB",
                table.source,
            )


def _invisible_without_default(table: TableDef) -> Iterator[Finding]:
    """MariaDB: "Invisible column must have a default value" (4108) when NOT NULL."""
    for name, col in table.columns.items():
        required = col.invisible and not col.nullable and not col.has_default
        if required and not (col.auto_increment or col.generated):
            yield finding(
                "LMS403",
                table.name,
                f"invisible column {name} must have a default value (MariaDB 4108)",
                col.location or table.source,
            )


def _column_problem(col: ColumnDef) -> str:
    kind, length, scale = col.type_name, col.length, col.scale
    if kind in ("VARCHAR", "VARBINARY") and not col.has_length:
        return f"{kind} needs a length"
    if kind in ("CHAR", "BINARY") and length is not None and length > 255:
        return f"{kind}({length}) is longer than 255"
    long_string = length is not None and length * charset_bytes(col) > MAX_ROW_BYTES
    if kind in ("VARCHAR", "VARBINARY") and long_string:
        return f"{kind}({length}) is longer than {MAX_ROW_BYTES} bytes; use TEXT or BLOB"
    if kind == "DECIMAL" and length is not None:
        if length > 65:
            return f"DECIMAL precision {length} is more than 65"
        if scale is not None and (scale > 30 or scale > length):
            return f"DECIMAL({length},{scale}): the scale must be at most 30 and the precision"
    if kind == "BIT" and length is not None and length > 64:
        return f"BIT({length}) is wider than 64"
    if kind in ("DATETIME", "TIMESTAMP", "TIME") and length is not None and length > 6:
        return f"{kind}({length}): fractional seconds precision is at most 6"
    if kind in ("ENUM", "SET"):
        values = [v.strip().lower() for v in col.values]
        dupes = sorted({v for v in values if values.count(v) > 1})
        if dupes:
            return f"duplicated value {', '.join(dupes)} in {kind}"
        if kind == "SET" and len(values) > 64:
            return f"a SET has at most 64 members, not {len(values)}"
    return ""


def _row_bytes(columns: list[ColumnDef]) -> int:
    """InnoDB's row-size count: column bytes, length prefixes, the NULL bitmap."""
    total = (sum(c.nullable for c in columns) + 7) // 8
    for col in columns:
        kind = col.type_name
        if kind in TEXT_TYPES | BLOB_TYPES:
            total += _POINTER_BYTES.get(kind.removesuffix("TEXT").removesuffix("BLOB"), 10)
        elif kind in ("JSON", "GEOMETRY") or kind.startswith(("POINT", "LINE", "POLY", "MULTI")):
            total += 12
        elif kind in ("VARCHAR", "VARBINARY"):
            size = (col.length or 0) * (charset_bytes(col) if kind in CHAR_TYPES else 1)
            total += size + (1 if size < 256 else 2)
        else:
            total += key_part_bytes(col, None)
    return total


#: Storage engines each target has (MariaDB 10.11: the ones enabled without plugins).
ENGINES = {
    "mysql8": frozenset({
        "INNODB", "MYISAM", "MEMORY", "HEAP", "CSV", "ARCHIVE", "BLACKHOLE", "MERGE",
        "MRG_MYISAM", "FEDERATED", "NDB", "NDBCLUSTER", "EXAMPLE", "PERFORMANCE_SCHEMA",
    }),
    "mariadb": frozenset({
        "INNODB", "MYISAM", "MEMORY", "HEAP", "CSV", "MERGE", "MRG_MYISAM", "ARIA",
        "SEQUENCE", "PERFORMANCE_SCHEMA",
    }),
}  # fmt: skip


def check_engines(doc: Document) -> Iterator[Finding]:
    """LMS404: an engine the server does not have (1286, NO_ENGINE_SUBSTITUTION); a CSV
    table with nullable columns (1178) or indexes (1069)."""
    known = ENGINES[doc.target.name]
    for table in doc.tables.values():
        if not table.from_sql or not table.engine:
            continue
        if table.engine not in known:
            yield finding("LMS404", table.name, f"unknown storage engine {table.engine} on "
                          f"{doc.target.label}", table.source)  # fmt: skip
        if table.engine == "CSV":
            nullable = [n for n, c in table.columns.items() if c.nullable]
            if nullable:
                yield finding("LMS404", table.name, "the CSV engine has no nullable columns "
                              f"({', '.join(nullable)})", table.source)  # fmt: skip
            if table.pk_parts or table.indexes or table.uniques:
                yield finding("LMS404", table.name, "the CSV engine has no indexes", table.source)


CHECKS = (check_columns, check_engines)
