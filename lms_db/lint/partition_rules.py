"""LMS1xx: what MySQL 8 and MariaDB refuse on partitioned tables.

A model spec that is declared but not applied is not a live problem: its findings come at
``warning`` severity, prefixed ``declared partition spec (not applied):`` with its reason.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from lms_db.lint.findings import Finding, Severity, finding
from lms_db.lint.schema import Document, PartitionDef, TableDef
from lms_db.lint.sources import mask

DECLARED_PREFIX = "declared partition spec (not applied): "


def _context(table: TableDef, part: PartitionDef) -> tuple[Severity | None, str, str]:
    """Severity override, message prefix and suffix for findings about ``part``."""
    if part.applied:
        return None, "", ""
    reason = f" (reason: {part.reason})" if part.reason else ""
    return "warning", DECLARED_PREFIX, reason


def _scheme(part: PartitionDef) -> str:
    return f"PARTITION BY {part.kind} ({part.expression})"


def _partitioned(doc: Document) -> Iterator[tuple[TableDef, PartitionDef]]:
    for table in doc.tables.values():
        if table.partition is not None:
            yield table, table.partition


def check_unique_keys(doc: Document) -> Iterator[Finding]:
    """LMS101: every unique key must contain all columns of the partitioning expression."""
    for table, part in _partitioned(doc):
        severity, prefix, suffix = _context(table, part)
        for name, cols, location in table.unique_keys():
            needed = dict.fromkeys(part.columns + part.sub_columns)
            missing = [c for c in needed if c not in cols]
            if not missing:
                continue
            key = "primary key" if name == "PRIMARY" else f"unique key {name}"
            yield finding(
                "LMS101",
                table.name,
                f"{prefix}{key} ({', '.join(cols)}) lacks {', '.join(missing)} of "
                f"{_scheme(part)}: MySQL refuses it, and widening the key would drop the "
                f"uniqueness of ({', '.join(cols)}){suffix}",
                location,
                severity,
            )


def check_foreign_keys(doc: Document) -> Iterator[Finding]:
    """LMS102: a partitioned InnoDB table can neither have nor be referenced by FKs."""
    for table, part in _partitioned(doc):
        severity, prefix, suffix = _context(table, part)
        for fk in table.foreign_keys:
            if fk.inline and not doc.target.mariadb:
                continue  # MySQL 8 parses and ignores inline REFERENCES
            yield finding(
                "LMS102",
                table.name,
                f"{prefix}foreign key {fk.name} ({', '.join(fk.cols)}) -> {fk.ref_table} "
                f"on a partitioned table ({_scheme(part)}){suffix}",
                fk.location or table.source,
                severity,
            )
        referrers = [
            f"{other.name}.{','.join(fk.cols)}"
            for other in doc.tables.values()
            if other is not table
            for fk in other.foreign_keys
            if fk.ref_table == table.name and (doc.target.mariadb or not fk.inline)
        ]
        if referrers:
            yield finding(
                "LMS102",
                table.name,
                f"{prefix}{table.name} is partitioned ({_scheme(part)}) but referenced by "
                f"foreign keys from {', '.join(referrers)}{suffix}",
                part.location or table.source,
                severity,
            )


def check_timestamp_function(doc: Document) -> Iterator[Finding]:
    """LMS103: on a TIMESTAMP column only ``UNIX_TIMESTAMP()`` may partition."""
    for table, part in _partitioned(doc):
        severity, prefix, suffix = _context(table, part)
        for col in part.columns:
            column = table.columns.get(col)
            if column is None or column.type_name != "TIMESTAMP" or part.kind == "KEY":
                continue
            problem = _timestamp_problem(part, col)
            if problem:
                yield finding(
                    "LMS103",
                    table.name,
                    f"{prefix}{problem} in {_scheme(part)}: on a TIMESTAMP column the only "
                    f"partitioning function allowed is UNIX_TIMESTAMP({col}){suffix}",
                    part.location or table.source,
                    severity,
                )


def _timestamp_problem(part: PartitionDef, col: str) -> str | None:
    if part.kind.endswith("COLUMNS"):
        return f"TIMESTAMP column {col} as a {part.kind} column"
    ref = rf"`?{re.escape(col)}`?"
    rest = re.sub(rf"\bUNIX_TIMESTAMP\s*\(\s*{ref}\s*\)", "", mask(part.expression), flags=re.I)
    if not re.search(rf"(?<![\w.]){ref}(?![\w(])", rest, re.I):
        return None
    wrapper = re.search(rf"(\w+)\s*\(\s*{ref}\s*[),]", rest, re.I)
    if wrapper:
        return f"{wrapper.group(1).upper()}({col}) on TIMESTAMP column {col}"
    return f"TIMESTAMP column {col} used without UNIX_TIMESTAMP()"


def check_fulltext(doc: Document) -> Iterator[Finding]:
    """LMS104: a partitioned InnoDB table cannot carry FULLTEXT indexes."""
    for table, part in _partitioned(doc):
        severity, prefix, suffix = _context(table, part)
        if doc.target.mariadb and part.applied:
            severity, suffix = "warning", suffix + " (MariaDB accepts it; MySQL 8 refuses it)"
        for index in table.indexes:
            if index.kind == "fulltext":
                yield finding(
                    "LMS104",
                    table.name,
                    f"{prefix}FULLTEXT index {index.name} ({', '.join(index.cols)}) on a "
                    f"partitioned table ({_scheme(part)}){suffix}",
                    index.location or table.source,
                    severity,
                )


CHECKS = (check_unique_keys, check_foreign_keys, check_timestamp_function, check_fulltext)
