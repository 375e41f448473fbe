"""Finish a revision that stopped halfway on MySQL/MariaDB, statement by statement.

MySQL and MariaDB commit every DDL statement on its own: a revision interrupted (Ctrl-C,
kill -9, a lost server) after 8 of its 21 ``CREATE TABLE`` leaves those 8 tables behind
while ``alembic_version`` still names the previous revision, and a plain rerun fails on
"table already exists".  So while a revision runs, every write statement it sends is
counted and journaled (:class:`StatementProgress`, in the shard's ``migrate`` journal
entry): before it starts (``inflight``) and once it succeeded (``done``).  A rerun of the
same revision then

- skips the statements journaled as done (each replaced by ``DO 0``; the last one's hash
  must match, or the revision changed since and the run refuses);
- checks the one that was in flight when the run died (:func:`effect_present`: the table,
  index, constraint or column it creates exists, or the one it drops is gone) and skips it
  when its effect is there, runs it otherwise;
- runs the rest normally.

PostgreSQL and SQLite run each revision in a transaction (rolled back when interrupted), so
there only the interrupt checks apply.  Every statement is also a safe point: a stop
request (:mod:`lms_db.interrupts`) stops the run before the next statement, and the test
hook ``migrate.statement`` (:mod:`lms_db.hooks`) pauses there.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import logging
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

import lms_db.hooks as hooks
import lms_db.interrupts as interrupts
from lms_db.errors import MigrationFailed

log = logging.getLogger(__name__)

_WRITE = re.compile(
    r"^\s*(CREATE|ALTER|DROP|RENAME|TRUNCATE|INSERT|UPDATE|DELETE|REPLACE)\b", re.IGNORECASE
)
_NAME = r"`?(\w+)`?"
_CHECKS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(rf"^\s*CREATE\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?{_NAME}", re.I), "table"),
    (
        re.compile(
            rf"^\s*CREATE\s+(?:UNIQUE\s+|FULLTEXT\s+|SPATIAL\s+)?INDEX\s+{_NAME}\s+ON\s+"
            rf"{_NAME}",
            re.I,
        ),
        "index",
    ),
    (re.compile(rf"^\s*ALTER\s+TABLE\s+{_NAME}\s+ADD\s+CONSTRAINT\s+{_NAME}", re.I), "constraint"),
    (re.compile(rf"^\s*ALTER\s+TABLE\s+{_NAME}\s+ADD\s+(?:COLUMN\s+)?{_NAME}", re.I), "column"),
    (re.compile(rf"^\s*DROP\s+TABLE\s+(?:IF\s+EXISTS\s+)?{_NAME}", re.I), "no-table"),
    (re.compile(rf"^\s*DROP\s+INDEX\s+{_NAME}\s+ON\s+{_NAME}", re.I), "no-index"),
    (
        re.compile(
            rf"^\s*ALTER\s+TABLE\s+{_NAME}\s+DROP\s+(?:FOREIGN\s+KEY|CONSTRAINT)\s+{_NAME}", re.I
        ),
        "no-constraint",
    ),
    (re.compile(rf"^\s*ALTER\s+TABLE\s+{_NAME}\s+DROP\s+(?:COLUMN\s+)?{_NAME}", re.I), "no-column"),
    (re.compile(rf"^\s*CREATE\s+TRIGGER\s+{_NAME}", re.I), "trigger"),
]


@dataclass(frozen=True)
class StatementProgress:
    """How far one revision got on one database (journaled after every statement).

    :param revision: the revision being applied.
    :param done: its write statements known to have succeeded, counted from the first.
    :param last_sha: the hash of statement ``done - 1`` (the revision must not change).
    :param inflight: the statement started and not known to have finished (``None``: none).
    """

    revision: str
    done: int = 0
    last_sha: str | None = None
    inflight: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (the journal payload's ``progress``)."""
        return {
            "revision": self.revision,
            "done": self.done,
            "last_sha": self.last_sha,
            "inflight": self.inflight,
        }

    @classmethod
    def from_dict(cls, data: Any) -> StatementProgress | None:
        """The progress in a journal payload (``None``: none or unreadable)."""
        if not isinstance(data, dict) or not isinstance(data.get("revision"), str):
            return None
        return cls(
            data["revision"], int(data.get("done") or 0), data.get("last_sha"), data.get("inflight")
        )


Record = Callable[[StatementProgress], None]
_current: contextvars.ContextVar[_Tracker | None] = contextvars.ContextVar(
    "lmsdb_statement_tracker", default=None
)


def is_resuming() -> bool:
    """Whether the revision running now resumes one an interrupted run left halfway (its
    own checks for leftovers, such as the initial revision's, must then let it proceed)."""
    tracker = _current.get()
    return tracker is not None and tracker.journaled and tracker.resume is not None


def forget_progress() -> None:
    """The running revision undid what it had done (the initial revision drops the tables it
    created when a statement fails): journal no progress for it, count nothing further."""
    tracker = _current.get()
    if tracker is not None:
        tracker.forget()


def _sha(statement: str, parameters: Any) -> str:
    return hashlib.sha256(f"{statement}\x00{parameters!r}".encode()).hexdigest()[:16]


def effect_present(conn: Connection, statement: str) -> bool | None:
    """Whether ``statement``'s effect is already in the database (MySQL/MariaDB):
    ``True``/``False``, or ``None`` when its kind cannot be checked.

    :param conn: a connection to the database (not the one running the revision).
    :param statement: a DDL statement of a revision.
    """
    for pattern, kind in _CHECKS:
        found = pattern.match(statement)
        if found is None:
            continue
        names = found.groups()
        exists = _exists(conn, kind.removeprefix("no-"), names)
        return not exists if kind.startswith("no-") else exists
    return None


def _exists(conn: Connection, kind: str, names: tuple[str, ...]) -> bool:
    schema = "TABLE_SCHEMA = DATABASE()"
    queries = {
        "table": (
            f"SELECT 1 FROM information_schema.TABLES WHERE {schema} AND TABLE_NAME = :a",
            names[:1],
        ),
        "index": (
            "SELECT 1 FROM information_schema.STATISTICS WHERE "
            f"{schema} AND INDEX_NAME = :a AND TABLE_NAME = :b",
            names[:2],
        ),
        "constraint": (
            "SELECT 1 FROM information_schema.TABLE_CONSTRAINTS WHERE "
            "CONSTRAINT_SCHEMA = DATABASE() AND TABLE_NAME = :a AND "
            "CONSTRAINT_NAME = :b",
            names[:2],
        ),
        "column": (
            f"SELECT 1 FROM information_schema.COLUMNS WHERE {schema} AND "
            "TABLE_NAME = :a AND COLUMN_NAME = :b",
            names[:2],
        ),
        "trigger": (
            "SELECT 1 FROM information_schema.TRIGGERS WHERE "
            "EVENT_OBJECT_SCHEMA = DATABASE() AND TRIGGER_NAME = :a",
            names[:1],
        ),
    }
    sql, values = queries[kind]
    params = dict(zip("ab", values, strict=False))
    return conn.execute(sa.text(sql), params).first() is not None


class _Tracker:
    """The listener that counts, journals, skips and checks one revision's statements."""

    def __init__(
        self,
        conn: Connection,
        revision: str,
        resume: StatementProgress | None,
        record: Record | None,
        journaled: bool,
    ) -> None:
        self.conn = conn
        self.journaled = journaled
        self.resume = resume if resume is not None and resume.revision == revision else None
        self.record = record
        self.progress = StatementProgress(revision)
        self.index = 0
        self.current: tuple[int, str] | None = None
        self.off = False

    def forget(self) -> None:
        self.off, self.current, self.resume = True, None, None
        self.progress = StatementProgress(self.progress.revision)
        if self.record is not None and self.journaled:
            self.record(self.progress)

    def before(
        self, _conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool
    ) -> tuple[str, Any]:
        if self.off or not _WRITE.match(statement) or "alembic_version" in statement:
            return statement, parameters
        i, sha = self.index, _sha(statement, parameters)
        self.index += 1
        self.current = None
        resume = self.resume if self.journaled else None
        if resume is not None and i < resume.done:
            if i == resume.done - 1 and resume.last_sha not in (None, sha):
                raise MigrationFailed(
                    f"revision {self.progress.revision} is not the one the interrupted run "
                    f"applied (statement {i + 1} differs): restore that revision's script"
                )
            if self._effect(statement) is not False:  # done, and still there
                self._advance(i + 1, sha, None)
                return "DO 0", None
        elif resume is not None and i == resume.inflight and self._effect(statement):
            log.info(
                "statement %d of %s was applied before the interruption: skipped",
                i + 1,
                self.progress.revision,
            )
            self._advance(i + 1, sha, None)
            return "DO 0", None
        hooks.pause_point("migrate.statement")
        interrupts.check(f"before statement {i + 1} of revision {self.progress.revision}")
        if self.journaled:
            self._advance(i, self.progress.last_sha, i)
        self.current = (i, sha)
        return statement, parameters

    def after(self, *_args: Any) -> None:
        if self.current is not None and self.journaled:
            hooks.pause_point("migrate.statement.done")  # ran; not journaled as done yet
            i, sha = self.current
            self._advance(i + 1, sha, None)
        self.current = None

    def _effect(self, statement: str) -> bool | None:
        """Whether the statement's effect is there (``None``: cannot tell), looked up on a
        connection of its own (this one is in the middle of the revision)."""
        with self.conn.engine.connect() as check:
            return effect_present(check, statement)

    def _advance(self, done: int, sha: str | None, inflight: int | None) -> None:
        self.progress = replace(self.progress, done=done, last_sha=sha, inflight=inflight)
        if self.record is not None:
            self.record(self.progress)


@contextlib.contextmanager
def tracked_statements(
    conn: Connection,
    revision: str,
    *,
    resume: StatementProgress | None = None,
    record: Record | None = None,
) -> Iterator[None]:
    """Count, journal and (when resuming) skip or check the write statements ``conn`` sends
    while applying ``revision``; every statement is also a safe point for a stop request.

    Journaling and skipping apply on MySQL/MariaDB only (non-transactional DDL).

    :param conn: the connection the revision runs on.
    :param revision: the revision being applied.
    :param resume: the progress an interrupted run journaled for this revision.
    :param record: called with the progress before and after each statement.
    :raises Interrupted: a stop was requested (before a statement, never during one).
    """
    journaled = conn.dialect.name in ("mysql", "mariadb")
    tracker = _Tracker(conn, revision, resume, record, journaled)
    sa.event.listen(conn, "before_cursor_execute", tracker.before, retval=True)
    sa.event.listen(conn, "after_cursor_execute", tracker.after)
    token = _current.set(tracker)
    try:
        yield
    finally:
        _current.reset(token)
        sa.event.remove(conn, "before_cursor_execute", tracker.before)
        sa.event.remove(conn, "after_cursor_execute", tracker.after)
