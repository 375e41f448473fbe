"""The lint gate of ``migrate up`` / ``migrate sql``: lint the revisions about to run.

The offline SQL of ``base:TO`` is linted as one document (a revision's ALTER needs the
tables earlier revisions created); with ``FROM:TO`` only what the revisions after FROM add
is kept (the findings of ``base:FROM`` are dropped: a PARTITION BY in 0003 that breaks the
primary key 0001 made is reported, at the key). Only the MySQL dialects are linted.
"""

from __future__ import annotations

from pathlib import Path

from lms_db.errors import LintFailed
from lms_db.lint import Finding, has_errors
from lms_db.lint.revisions import DIALECT_TARGETS, RUNNING, lint_revision_sql
from lms_db.migrate.database import read_revision
from lms_db.migrate.scripts import offline_sql
from lms_db.migrate.targets import Prepared


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
    done = {m.group("end") for m in RUNNING.finditer(already)}
    every = {m.group("end") for m in RUNNING.finditer(history)}
    if not every - done:  # FROM is at or after TO: a downgrade or nothing to do
        return []
    # what the pending revisions add, wherever it shows (a PARTITION BY in 0003 breaks the
    # primary key 0001 created: the finding is at the key)
    source = f"{target} base:{end}"
    before = {_key(f) for f in lint_revision_sql(already, dialect, source=source)}
    return [f for f in lint_revision_sql(history, dialect, source=source) if _key(f) not in before]


def _key(found: Finding) -> tuple[str, str, str, str]:
    return found.rule, found.table, found.message, found.location


def require_clean_revisions(
    target: str, revision_range: str, dialects: set[str], root: Path | None = None
) -> list[Finding]:
    """Lint ``revision_range`` for each dialect; raise when any finding is an error.

    :returns: the findings (warnings only) for the caller to show.
    :raises LintFailed: an error-severity finding (exit 1); its message names the first.
    """
    findings = [
        f for d in sorted(dialects) for f in lint_revisions(target, revision_range, d, root)
    ]
    if has_errors(findings):
        errors = [f for f in findings if f.severity == "error"]
        first = errors[0]
        raise LintFailed(
            f"lint found {len(errors)} error(s) in the revisions to run, first {first.rule} "
            f"({first.table or 'statement'}): {first.message}; fix the revision, or pass "
            "--no-lint to run it anyway"
        )
    return findings


def gate_fleet(
    prepared: Prepared, target: str, root: Path | None = None, *, timeout: float = 10.0
) -> list[Finding]:
    """Before ``migrate up``: lint, per MySQL-family primary, the revisions it will run.

    Each primary's current revision is read (nothing written); one lint per distinct
    (dialect, current revision). Warnings are returned for the caller to show.

    :raises LintFailed: an error-severity finding in revisions some shard would run.
    :raises ConnectionFailed: a primary cannot be reached.
    """
    wanted = prepared.revision or "base"
    spans: set[tuple[str, str]] = set()
    for member in prepared.members:
        dialect = member.primary.dialect
        if dialect in DIALECT_TARGETS:
            current = read_revision(member.primary, timeout=timeout) or "base"
            spans.add((dialect, current))
    findings: list[Finding] = []
    for dialect, current in sorted(spans):
        findings += require_clean_revisions(target, f"{current}:{wanted}", {dialect}, root)
    return list(dict.fromkeys(findings))
