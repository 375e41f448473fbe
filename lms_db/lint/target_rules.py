"""LMS601-LMS602: what only one of MySQL 8 and MariaDB accepts, for ``--target``."""

from __future__ import annotations

import re
from collections.abc import Iterator

from lms_db.lint.column_types import COMMON_TYPES, MARIADB_TYPES
from lms_db.lint.findings import Finding, finding
from lms_db.lint.schema import Document
from lms_db.lint.sources import mask

#: (pattern on the comment-free statement, what it is): MariaDB only.
_MARIADB_ONLY: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^\s*CREATE\s+(?:OR\s+REPLACE\s+)?SEQUENCE\b", re.I), "CREATE SEQUENCE"),
    (re.compile(r"^\s*(?:ALTER|DROP)\s+SEQUENCE\b", re.I), "sequences"),
    (re.compile(r"^\s*CREATE\s+OR\s+REPLACE\s+TABLE\b", re.I), "CREATE OR REPLACE TABLE"),
    (
        re.compile(
            r"^\s*CREATE\s+OR\s+REPLACE\s+(?:UNIQUE\s+|FULLTEXT\s+|SPATIAL\s+)?INDEX\b", re.I
        ),
        "CREATE OR REPLACE INDEX",
    ),
    (
        re.compile(r"^\s*(?:CREATE|ALTER|DROP)\b(?:(?!;).)*\b(?:WAIT\s+\d+|NOWAIT)\b", re.I | re.S),
        "WAIT n / NOWAIT on DDL",
    ),
    (
        re.compile(
            r"^\s*ALTER\s+TABLE\b.*\b(?:ADD|DROP|MODIFY|CHANGE)\s+(?:COLUMN\s+)?IF\s+(?:NOT\s+)?EXISTS\b",
            re.I | re.S,
        ),
        "ADD/DROP/MODIFY COLUMN IF [NOT] EXISTS",
    ),
    (
        re.compile(
            r"^\s*ALTER\s+TABLE\b.*\bADD\s+(?:UNIQUE\s+)?(?:INDEX|KEY)\s+IF\s+NOT\s+EXISTS\b",
            re.I | re.S,
        ),
        "ADD INDEX IF NOT EXISTS",
    ),
    (re.compile(r"\bPARTITION\s+BY\s+SYSTEM_TIME\b", re.I), "PARTITION BY SYSTEM_TIME"),
    (
        re.compile(r"\b(?:ADD|DROP)\s+PARTITION\s+IF\s+(?:NOT\s+)?EXISTS\b", re.I),
        "ADD/DROP PARTITION IF [NOT] EXISTS",
    ),
    (
        re.compile(
            r"^\s*ALTER\s+TABLE\b.*\bCONVERT\s+(?:PARTITION\s+\S+\s+TO\s+TABLE|TABLE\s+\S+\s+TO\s+PARTITION)\b",
            re.I | re.S,
        ),
        "CONVERT PARTITION / CONVERT TABLE ... TO PARTITION",
    ),
    (re.compile(r"\bWITH\s+SYSTEM\s+VERSIONING\b", re.I), "system-versioned tables"),
    (re.compile(r"\bNOT\s+IGNORED\b|\bIGNORED\b", re.I), "IGNORED indexes"),
    (re.compile(r"\bPARTITION\s+[`\w$]+\s+DEFAULT\b", re.I), "a DEFAULT list partition"),
    (re.compile(r"\)\s*PERSISTENT\b", re.I), "PERSISTENT generated columns (MySQL: STORED)"),
    (re.compile(r"^\s*DROP\s+INDEX\s+IF\s+EXISTS\b", re.I), "DROP INDEX IF EXISTS"),
    (
        re.compile(
            r"^\s*ALTER\s+TABLE\b.*\b(?:ADD|DROP)\s+(?:INDEX|KEY|UNIQUE|FOREIGN\s+KEY|CONSTRAINT)"
            r"\s+IF\s+(?:NOT\s+)?EXISTS\b",
            re.I | re.S,
        ),
        "ADD/DROP INDEX / KEY / CONSTRAINT IF [NOT] EXISTS",
    ),
    (re.compile(r"\bPERIOD\s+FOR\b", re.I), "application-time periods (PERIOD FOR)"),
    (re.compile(r"\bWITHOUT\s+OVERLAPS\b", re.I), "WITHOUT OVERLAPS keys"),
    (
        re.compile(r"^\s*EXPLAIN\s+(?:PARTITIONS|EXTENDED)\b", re.I),
        "EXPLAIN PARTITIONS / EXTENDED (removed in MySQL 8.0)",
    ),
    (
        re.compile(
            r"^\s*CREATE\s+(?:OR\s+REPLACE\s+)?(?:UNIQUE\s+)?INDEX\s+IF\s+NOT\s+EXISTS\b", re.I
        ),
        "CREATE INDEX IF NOT EXISTS",
    ),
)
#: MySQL 8 only.
_MYSQL_ONLY: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\butf8mb4_0900_\w+|\butf8mb4_ja_0900\w*", re.I), "the utf8mb4_0900 collations"),
    (re.compile(r"\bSRID\s+\d+", re.I), "the SRID column attribute"),
    (
        re.compile(r"\bWITH\s+PARSER\s+`?(?:ngram|mecab)\b", re.I),
        "the ngram / MeCab FULLTEXT parsers",
    ),
)


def check_mariadb_only(doc: Document) -> Iterator[Finding]:
    """LMS601: MariaDB-only syntax and types, on the mysql8 target."""
    if doc.target.mariadb:
        return
    for stmt in doc.statements:
        masked = mask(stmt.text)
        for pattern, what in _MARIADB_ONLY:
            if pattern.search(masked):
                yield finding(
                    "LMS601", "", f"{what} is MariaDB only; MySQL 8 refuses it", stmt.location
                )
    for table in doc.tables.values():
        for name, col in table.columns.items():
            if col.compressed:
                yield finding(
                    "LMS601",
                    table.name,
                    f"column {name}: COMPRESSED columns are MariaDB only",
                    col.location or table.source,
                )
            if col.type_name in MARIADB_TYPES:
                yield finding(
                    "LMS601",
                    table.name,
                    f"column {name}: {col.type_name} is a MariaDB type; MySQL 8 has none",
                    col.location or table.source,
                )


def check_mysql_only(doc: Document) -> Iterator[Finding]:
    """LMS602: MySQL 8-only syntax (functional key parts, INVISIBLE indexes...), on the
    mariadb target."""
    if not doc.target.mariadb:
        return
    for stmt in doc.statements:
        masked = mask(stmt.text)
        for pattern, what in _MYSQL_ONLY:
            if pattern.search(masked):
                yield finding(
                    "LMS602", "", f"{what}: MySQL 8 only; MariaDB 10.11 refuses it", stmt.location
                )
    for table in doc.tables.values():
        for name, col in table.columns.items():
            if col.generated and col.null_declared:
                yield finding(
                    "LMS602",
                    table.name,
                    f"generated column {name}: MariaDB takes no NULL / NOT NULL on it",
                    col.location or table.source,
                )
        keys = [("primary key", table.pk_parts, table.pk_options, table.pk_location)]
        keys += [(f"index {i.name}", i.parts, i.options, i.location) for i in table.indexes]
        keys += [(f"unique key {u.name}", u.parts, u.options, u.location) for u in table.uniques]
        for what, parts, options, location in keys:
            where = location or table.source
            if any(p.expression for p in parts):
                yield finding(
                    "LMS602",
                    table.name,
                    f"{what}: functional key parts are MySQL 8 "
                    "only (MariaDB: index a generated column)",
                    where,
                )
            if "INVISIBLE" in options:  # MariaDB 10.11 takes VISIBLE, refuses INVISIBLE
                yield finding(
                    "LMS602",
                    table.name,
                    f"{what}: INVISIBLE indexes are MySQL 8 only (MariaDB: IGNORED)",
                    where,
                )


def unknown_types(doc: Document, location: str) -> list[str]:
    """``TYPE (column)`` for the columns of the table created at ``location`` whose type
    the target does not have (used by LMS401)."""
    known = COMMON_TYPES | (MARIADB_TYPES if doc.target.mariadb else frozenset())
    known |= MARIADB_TYPES  # named by LMS601 on mysql8, not twice
    out: list[str] = []
    for table in doc.tables.values():
        if table.source != location:
            continue
        out += [
            f"{c.type_name} ({n})" for n, c in table.columns.items() if c.type_name not in known
        ]
    return out


CHECKS = (check_mariadb_only, check_mysql_only)
