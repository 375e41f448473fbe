"""LMS203-LMS212: index definitions the server refuses (names, parts, prefixes, lengths).

Only tables read by the SQL front end are checked: the models carry no key-part detail.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from lms_db.lint.column_types import (
    SPATIAL_TYPES,
    TEXT_TYPES,
    char_length,
    is_string,
    key_part_bytes,
    needs_prefix,
)
from lms_db.lint.findings import Finding, finding
from lms_db.lint.schema import Document, KeyPart, TableDef

MAX_KEY_BYTES = 3072  # InnoDB, 16 KiB pages (DYNAMIC/COMPRESSED row format)
MAX_COMPACT_PART_BYTES = 767  # InnoDB REDUNDANT/COMPACT row formats, per key part
MAX_INDEXES = 64


@dataclass(frozen=True)
class _Index:
    label: str
    name: str
    kind: str  # primary, unique, btree, fulltext, spatial
    parts: tuple[KeyPart, ...]
    location: str
    named: bool


def _indexes(table: TableDef) -> list[_Index]:
    found: list[_Index] = []
    if table.pk_parts:
        loc = table.pk_location or table.source
        found.append(_Index("PRIMARY KEY", "PRIMARY", "primary", table.pk_parts, loc, True))
    for u in table.uniques:
        parts = u.parts or tuple(KeyPart(c) for c in u.cols)
        loc = u.location or table.source
        found.append(_Index(f"UNIQUE {u.name}", u.name, "unique", parts, loc, u.named))
    for i in table.indexes:
        parts = i.parts or tuple(KeyPart(c) for c in i.cols)
        label = f"{i.kind.upper()} {i.name}" if i.kind != "btree" else f"INDEX {i.name}"
        found.append(_Index(label, i.name, i.kind, parts, i.location or table.source, i.named))
    return found


def _sql_tables(doc: Document) -> Iterator[TableDef]:
    yield from (t for t in doc.tables.values() if t.from_sql)


def check_duplicate_names(doc: Document) -> Iterator[Finding]:
    """LMS203: two indexes of one table with the same name (error 1061)."""
    for table in _sql_tables(doc):
        seen: set[str] = set()
        for index in _indexes(table):
            key = index.name.lower()
            if key in seen and index.kind != "primary":
                yield finding(
                    "LMS203",
                    table.name,
                    f"duplicate key name {index.name!r}: "
                    f"{index.label} reuses the name of another index",
                    index.location,
                )
            seen.add(key)
        for index in _indexes(table):
            if index.kind != "primary" and index.name.upper() == "PRIMARY" and index.named:
                yield finding(
                    "LMS203",
                    table.name,
                    f"{index.label}: only the primary key may be named PRIMARY (error 1280)",
                    index.location,
                )
        if table.primary_keys > 1:
            yield finding(
                "LMS203",
                table.name,
                "more than one PRIMARY KEY (error 1068)",
                table.pk_location or table.source,
            )


def check_duplicate_columns(doc: Document) -> Iterator[Finding]:
    """LMS204: a column named twice in one index (error 1060)."""
    for table in _sql_tables(doc):
        for index in _indexes(table):
            cols = [p.column for p in index.parts if p.column]
            dupes = sorted({c for c in cols if cols.count(c) > 1})
            if dupes:
                yield finding(
                    "LMS204",
                    table.name,
                    f"{index.label} names column {', '.join(dupes)} more than once",
                    index.location,
                )


def check_prefixes(doc: Document) -> Iterator[Finding]:
    """LMS205: a prefix length on a non-string column, longer than the column, or 0."""
    for table in _sql_tables(doc):
        for index in _indexes(table):
            for part in index.parts:
                col = table.columns.get(part.column)
                if col is None or part.length is None:
                    continue
                problem = ""
                length = char_length(col)
                if part.length == 0:
                    problem = "a prefix length of 0"
                elif col.type_name in SPATIAL_TYPES and index.kind == "spatial":
                    problem = "a prefix on a SPATIAL key part"
                elif not is_string(col) and index.kind != "fulltext":
                    problem = f"a prefix on {col.type_name} column {part.column}, not a string"
                elif length is not None and part.length > length and index.kind != "fulltext":
                    problem = f"prefix {part.length} longer than {part.column} ({length})"
                if problem:
                    yield finding(
                        "LMS205",
                        table.name,
                        f"{index.label}: {problem} (error 1089 'Incorrect prefix key')",
                        index.location,
                    )


def check_blob_without_prefix(doc: Document) -> Iterator[Finding]:
    """LMS206: a TEXT/BLOB (or JSON) key part without a prefix length.

    MySQL 8 refuses it (error 1170, JSON 3152); MariaDB 10.11 shortens a one-column plain
    index to a prefix and makes a UNIQUE key a hash key; it refuses a PRIMARY KEY (1170) and a
    multi-column plain index (1071, checked).
    """
    mariadb = doc.target.mariadb
    for table in _sql_tables(doc):
        for index in _indexes(table):
            if index.kind in ("fulltext", "spatial"):
                continue
            for part in index.parts:
                col = table.columns.get(part.column)
                if col is None or part.length is not None:
                    continue
                if not (needs_prefix(col) or col.type_name == "JSON"):
                    continue
                single_plain = index.kind == "btree" and len(index.parts) == 1
                if mariadb and (index.kind == "unique" or single_plain):
                    continue  # shortened to a prefix, or a hash key
                yield finding(
                    "LMS206",
                    table.name,
                    f"{index.label}: {col.type_name} column "
                    f"{part.column} used in a key without a prefix length",
                    index.location,
                )


def check_key_length(doc: Document) -> Iterator[Finding]:
    """LMS207: a key longer than 3072 bytes (error 1071).

    MariaDB 10.11 shortens a one-column plain index and turns a UNIQUE key into a hash
    key instead of refusing them.
    """
    mariadb = doc.target.mariadb
    for table in _sql_tables(doc):
        for index in _indexes(table):
            if index.kind in ("fulltext", "spatial"):
                continue
            total = 0
            for part in index.parts:
                col = table.columns.get(part.column)
                if col is not None and not (needs_prefix(col) and part.length is None):
                    size = key_part_bytes(col, part.length)
                    total += size
                    if (
                        table.row_format in ("COMPACT", "REDUNDANT")
                        and size > MAX_COMPACT_PART_BYTES
                    ):
                        yield finding(
                            "LMS207",
                            table.name,
                            f"{index.label}: key part {part.column} "
                            f"is {size} bytes; ROW_FORMAT={table.row_format} allows "
                            f"{MAX_COMPACT_PART_BYTES}",
                            index.location,
                        )
            if total <= MAX_KEY_BYTES:
                continue
            if mariadb and (
                index.kind == "unique" or (index.kind == "btree" and len(index.parts) == 1)
            ):
                continue
            yield finding(
                "LMS207",
                table.name,
                f"{index.label} is {total} bytes long; InnoDB "
                f"keys are at most {MAX_KEY_BYTES} bytes",
                index.location,
            )


def check_key_parts(doc: Document) -> Iterator[Finding]:
    """LMS208: more key parts than the server allows (MySQL 16, MariaDB 32; error 1070)."""
    limit = 32 if doc.target.mariadb else 16
    for table in _sql_tables(doc):
        secondary = [i for i in _indexes(table) if i.kind != "primary"]
        if len(secondary) > MAX_INDEXES:
            yield finding(
                "LMS208",
                table.name,
                f"{len(secondary)} indexes; a table has at most "
                f"{MAX_INDEXES} secondary indexes (error 1069)",
                table.source,
            )
        for index in _indexes(table):
            if len(index.parts) > limit:
                yield finding(
                    "LMS208",
                    table.name,
                    f"{index.label} has {len(index.parts)} key parts; at most {limit} are allowed",
                    index.location,
                )


def check_special_indexes(doc: Document) -> Iterator[Finding]:
    """LMS209: FULLTEXT on non-text columns; SPATIAL on non-geometry, nullable, or several
    columns (errors 1283, 1210, 1252)."""
    for table in _sql_tables(doc):
        for index in _indexes(table):
            cols = [table.columns.get(p.column) for p in index.parts]
            if index.kind == "fulltext" and table.temporary:
                yield finding(
                    "LMS209",
                    table.name,
                    f"{index.label}: cannot create a FULLTEXT index on a TEMPORARY table (1796)",
                    index.location,
                )
            if index.kind == "fulltext":
                bad = [
                    p.column
                    for p, c in zip(index.parts, cols, strict=True)
                    if c is not None and c.type_name not in TEXT_TYPES | {"CHAR", "VARCHAR"}
                ]
                if bad:
                    yield finding(
                        "LMS209",
                        table.name,
                        f"{index.label}: column "
                        f"{', '.join(bad)} cannot be part of a FULLTEXT index",
                        index.location,
                    )
            elif index.kind == "spatial":
                yield from _spatial(table, index)


def _spatial(table: TableDef, index: _Index) -> Iterator[Finding]:
    problem = ""
    if len(index.parts) != 1:
        problem = "a SPATIAL index has exactly one column"
    else:
        col = table.columns.get(index.parts[0].column)
        if col is not None and col.type_name not in SPATIAL_TYPES:
            problem = f"column {index.parts[0].column} is {col.type_name}, not a geometry type"
        elif col is not None and col.nullable:
            problem = f"all parts of a SPATIAL index must be NOT NULL ({index.parts[0].column})"
    if problem:
        yield finding("LMS209", table.name, f"{index.label}: {problem}", index.location)


def check_auto_increment(doc: Document) -> Iterator[Finding]:
    """LMS210: one AUTO_INCREMENT column per table, and it must lead a key (error 1075)."""
    for table in _sql_tables(doc):
        autos = [name for name, col in table.columns.items() if col.auto_increment]
        leading = {
            i.parts[0].column
            for i in _indexes(table)
            if i.parts and i.kind not in ("fulltext", "spatial")
        }
        if len(autos) > 1 or any(a not in leading for a in autos):
            yield finding(
                "LMS210",
                table.name,
                "there can be only one AUTO_INCREMENT column "
                f"and it must be defined as a key ({', '.join(autos)})",
                table.columns[autos[0]].location or table.source,
            )


def check_hidden_primary(doc: Document) -> Iterator[Finding]:
    """LMS213: "A primary key index cannot be invisible" (MySQL 8.0 10.3.12; MariaDB: "A
    primary key cannot be marked as IGNORE", 4174) - nor the first NOT NULL unique key of a
    table without one, which InnoDB uses as the primary key."""
    word = "IGNORED" if doc.target.mariadb else "INVISIBLE"
    for table in _sql_tables(doc):
        standing_in = None
        if not table.pk_parts:
            standing_in = next(
                (u for u in table.uniques
                 if u.cols and all(c in table.columns and not table.columns[c].nullable
                                   for c in u.cols)),
                None,
            )  # fmt: skip
        pk_options = table.pk_options
        if word in pk_options:
            yield finding("LMS213", table.name, f"the PRIMARY KEY cannot be {word}",
                          table.pk_location or table.source)  # fmt: skip
        if standing_in is not None and word in standing_in.options:
            yield finding("LMS213", table.name, f"UNIQUE {standing_in.name} stands in for the "
                          f"primary key and cannot be {word}", standing_in.location)  # fmt: skip


def check_null_primary(doc: Document) -> Iterator[Finding]:
    """LMS214: MySQL 8: "All parts of a PRIMARY KEY must be NOT NULL; if you need NULL in a
    key, use UNIQUE instead" (1171) for a column declared NULL; MariaDB makes it NOT NULL."""
    if doc.target.mariadb:
        return
    for table in _sql_tables(doc):
        declared = [
            c for c in table.primary_key if c in table.columns and table.columns[c].explicit_null
        ]
        if declared:
            yield finding("LMS214", table.name, f"primary key column {', '.join(declared)} is "
                          "declared NULL; MySQL 8 wants NOT NULL (or a UNIQUE key)",
                          table.pk_location or table.source)  # fmt: skip


CHECKS = (
    check_null_primary,
    check_hidden_primary,
    check_duplicate_names,
    check_duplicate_columns,
    check_prefixes,
    check_blob_without_prefix,
    check_key_length,
    check_key_parts,
    check_special_indexes,
    check_auto_increment,
)
