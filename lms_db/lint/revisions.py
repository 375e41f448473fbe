"""Lint of migration revisions: the DDL ``lmsdb migrate up`` / ``migrate sql`` would run.

The offline SQL of ``base:TO`` is linted as one document (a revision's ALTER needs the
tables earlier revisions created); with ``FROM:TO`` only what the revisions after FROM
add is kept (the findings of ``base:FROM`` are dropped). Each finding is prefixed with the
revision whose SQL it points at.  Only the MySQL dialects are
linted (``mysql`` as MySQL 8, ``mariadb`` as MariaDB 10.11); PostgreSQL and SQLite give
no findings.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import replace
from pathlib import Path

from lms_db.lint.findings import Finding

#: Dialect of a migration -> lint target.
DIALECT_TARGETS = {"mysql": "mysql8", "mariadb": "mariadb"}
_RUNNING = re.compile(r"^-- Running (?:upgrade|downgrade) (?P<start>\S*) -> (?P<end>\S+)\s*$", re.M)


def lint_revision_sql(
    sql: str,
    dialect: str,
    *,
    revisions: Collection[str] | None = None,
    source: str = "revisions",
) -> list[Finding]:
    """Lint offline migration SQL (Alembic ``--sql`` output).

    :param sql: the SQL, with Alembic's ``-- Running upgrade A -> B`` markers.
    :param dialect: ``mysql``, ``mariadb``, ``postgresql`` or ``sqlite``.
    :param revisions: keep findings in these revisions only (``None``: all of them).
    :param source: the name locations use (``source:line``).
    """
    from lms_db.lint import lint_sql  # the package imports this module's neighbours

    target = DIALECT_TARGETS.get(dialect)
    if target is None:
        return []
    sections = [(sql.count("\n", 0, m.start()) + 1, m.group("end")) for m in _RUNNING.finditer(sql)]
    kept: list[Finding] = []
    for found in lint_sql(sql, source=source, target=target):
        revision = _revision_at(sections, _line(found))
        if revision is None or (revisions is not None and revision not in revisions):
            continue
        kept.append(replace(found, message=f"revision {revision}: {found.message}"))
    return kept


def lint_revisions(
    target: str,
    revision_range: str,
    dialect: str,
    root: Path | None = None,
) -> list[Finding]:
    """Lint the revisions of ``FROM:TO`` (``TO`` alone: ``base:TO``) for ``dialect``.

    Downgrades (``TO`` older than ``FROM``) are not linted: they remove what lint checks.

    :param target: ``oltp`` or ``analytics``.
    :param root: a migrations directory to use instead of lmsdb's own.
    :raises UnknownObjectError: unknown dialect or revision.
    :raises InputError: a malformed range.
    """
    from lms_db.fleet.scripts import offline_sql

    start, sep, end = revision_range.partition(":")
    if not sep:
        start, end = "base", revision_range
    if dialect not in DIALECT_TARGETS:
        offline_sql(target, revision_range, dialect, root)  # bad input still says so
        return []
    history = offline_sql(target, f"base:{end}", dialect, root)
    if start in ("", "base"):
        return lint_revision_sql(history, dialect, source=f"{target} base:{end}")
    already = offline_sql(target, f"base:{start}", dialect, root)
    done = {m.group("end") for m in _RUNNING.finditer(already)}
    every = {m.group("end") for m in _RUNNING.finditer(history)}
    if not every - done:  # FROM is at or after TO: a downgrade or nothing to do
        return []
    # what the pending revisions add, wherever it shows (a PARTITION BY in 0003 breaks the
    # primary key 0001 created: the finding is at the key)
    source = f"{target} base:{end}"
    before = {_key(f) for f in lint_revision_sql(already, dialect, source=source)}
    return [f for f in lint_revision_sql(history, dialect, source=source) if _key(f) not in before]


def _key(found: Finding) -> tuple[str, str, str, str]:
    return found.rule, found.table, found.message, found.location


def _line(found: Finding) -> int:
    tail = found.location.rpartition(":")[2]
    return int(tail) if tail.isdigit() else 0


def _revision_at(sections: list[tuple[int, str]], line: int) -> str | None:
    current = None
    for first_line, revision in sections:
        if first_line > line:
            break
        current = revision
    return current
