"""Lint of migration revisions' offline SQL (what ``lmsdb migrate up`` / ``migrate sql``
would run); :mod:`lms_db.migrate.lint_gate` renders the SQL and calls this.

Each finding is prefixed with the revision whose SQL it points at (Alembic's
``-- Running upgrade A -> B`` markers).  Only the MySQL dialects are
linted (``mysql`` as MySQL 8, ``mariadb`` as MariaDB 10.11); PostgreSQL and SQLite give
no findings.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import replace

from lms_db.lint.findings import Finding

#: Dialect of a migration -> lint target.
DIALECT_TARGETS = {"mysql": "mysql8", "mariadb": "mariadb"}
RUNNING = re.compile(r"^-- Running (?:upgrade|downgrade) (?P<start>\S*) -> (?P<end>\S+)\s*$", re.M)


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
    sections = [(sql.count("\n", 0, m.start()) + 1, m.group("end")) for m in RUNNING.finditer(sql)]
    kept: list[Finding] = []
    for found in lint_sql(sql, source=source, target=target):
        revision = _revision_at(sections, _line(found))
        if revision is None or (revisions is not None and revision not in revisions):
            continue
        kept.append(replace(found, message=f"revision {revision}: {found.message}"))
    return kept


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
