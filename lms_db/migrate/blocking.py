"""Flag DDL that would block writes before it runs (``lmsdb migrate plan``).

Cheap, text-based checks on the offline SQL of each pending revision:

- MySQL/MariaDB: an ``ALTER TABLE`` or ``CREATE INDEX`` on an existing table without
  ``ALGORITHM=INSTANT``/``INPLACE`` may copy the table while holding a lock, and
  ``LOCK=SHARED``/``EXCLUSIVE`` or ``ALGORITHM=COPY`` block writes for the whole statement;
- PostgreSQL: ``CREATE INDEX`` without ``CONCURRENTLY`` on an existing table takes a SHARE
  lock (writes wait), and ``ALTER COLUMN ... TYPE`` rewrites the table.

Statements on tables created earlier in the same plan are not flagged: those tables are empty.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from lms_db.dialects.facts import is_mysql_family

_CREATE_TABLE = re.compile(r"^\s*CREATE\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?[`\"]?(\w+)", re.I)
_ALTER_TABLE = re.compile(r"^\s*ALTER\s+TABLE\s+(?:ONLY\s+)?[`\"]?(\w+)", re.I)
_CREATE_INDEX = re.compile(
    r"^\s*CREATE\s+(?:UNIQUE\s+|FULLTEXT\s+)?INDEX\s+(CONCURRENTLY\s+)?.*?\bON\s+(?:ONLY\s+)?"
    r"[`\"]?(\w+)",
    re.I | re.S,
)
_ALGORITHM = re.compile(r"\bALGORITHM\s*=\s*(\w+)", re.I)
_LOCK = re.compile(r"\bLOCK\s*=\s*(\w+)", re.I)
_HARMLESS_ALTER = re.compile(r"\b(ENABLE|DISABLE)\s+ROW\s+LEVEL\s+SECURITY\b", re.I)


def split_statements(sql: str) -> list[str]:
    """Statements of an offline SQL script (``;`` at a line end ends one), comments dropped."""
    out, current = [], []
    for line in sql.splitlines():
        if line.strip().startswith("--") or not line.strip():
            continue
        current.append(line)
        if line.rstrip().endswith(";"):
            out.append("\n".join(current).rstrip().rstrip(";"))
            current = []
    if current:
        out.append("\n".join(current))
    return out


def blocking_statements(statements: Iterable[str], dialect_name: str) -> list[str]:
    """One warning per statement that may block writes on a live table.

    :param statements: the SQL to run, in order.
    :param dialect_name: ``mysql``, ``mariadb``, ``postgresql`` or ``sqlite``.
    """
    created: set[str] = set()
    warnings = []
    for statement in statements:
        first = " ".join(statement.split())[:80]
        if match := _CREATE_TABLE.match(statement):
            created.add(match.group(1).lower())
            continue
        if is_mysql_family(dialect_name):
            warning = _mysql(statement, created)
        elif dialect_name == "postgresql":
            warning = _postgresql(statement, created)
        else:
            warning = None  # SQLite: one writer at a time anyway
        if warning:
            warnings.append(f"{warning}: {first}")
    return warnings


def _table(statement: str) -> str | None:
    if match := _ALTER_TABLE.match(statement):
        return match.group(1).lower()
    if match := _CREATE_INDEX.match(statement):
        return match.group(2).lower()
    return None


def _option(pattern: re.Pattern[str], statement: str) -> str:
    match = pattern.search(statement)
    return match.group(1).upper() if match else ""


def _mysql(statement: str, created: set[str]) -> str | None:
    table = _table(statement)
    if table is None or table in created:
        return None
    algorithm = _option(_ALGORITHM, statement)
    lock = _option(_LOCK, statement)
    if algorithm == "COPY" or lock in ("SHARED", "EXCLUSIVE"):
        return f"blocks writes on {table} (ALGORITHM={algorithm or '?'}, LOCK={lock or '?'})"
    if algorithm not in ("INSTANT", "INPLACE"):
        return (
            f"may copy {table} and block writes: add ALGORITHM=INSTANT or "
            "ALGORITHM=INPLACE, LOCK=NONE"
        )
    return None


def _postgresql(statement: str, created: set[str]) -> str | None:
    table = _table(statement)
    if table is None or table in created or _HARMLESS_ALTER.search(statement):
        return None
    index = _CREATE_INDEX.match(statement)
    if index and not index.group(1):
        return f"locks {table} against writes while the index builds: use CREATE INDEX CONCURRENTLY"
    if re.search(r"\bALTER\s+COLUMN\s+\w+\s+(SET\s+DATA\s+)?TYPE\b", statement, re.I):
        return f"rewrites {table} under an ACCESS EXCLUSIVE lock (column type change)"
    return None
