"""Alembic on one database: locked, one revision per step, resumable.

:func:`upgrade_database` is the whole protocol for one database: open it, take its migration
lock (:mod:`lms_db.fleet.locks`), read its revision *under the lock*, then run each pending
revision as its own ``alembic.command.upgrade`` step.  When a step fails the database stays at
the last revision that succeeded (:class:`MigrationFailed` says which), and a rerun resumes from
there.  :mod:`lms_db.migrate.run` runs the same steps over every shard, with the journal.

Example::

    ref = load_topology("shards/local-sqlite.toml").shard("shard-0").primary
    upgrade_database(ref)                  # -> '0001'
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import sqlalchemy as sa
from alembic import command
from alembic.migration import MigrationContext
from alembic.util.exc import CommandError
from sqlalchemy.engine import Connection, Engine

import lms_db.hooks as hooks
import lms_db.interrupts as interrupts
from lms_db.config import DEFAULT_CONNECT_TIMEOUT
from lms_db.dialects.facts import is_mysql_family
from lms_db.errors import ConnectionFailed, Interrupted, LmsDbError, MigrationFailed
from lms_db.fleet.locks import DEFAULT_LOCK_TIMEOUT, LockWaitCallback, migration_lock
from lms_db.migrate.resume import Record, StatementProgress, tracked_statements
from lms_db.migrate.scripts import (
    ALEMBIC_LOCK,
    alembic_config,
    check_target,
    downgrade_steps,
    resolve_revision,
    script_directory,
    upgrade_steps,
)
from lms_db.topology.engines import connect_args_for, short_reason
from lms_db.topology.failures import describe, is_server_gone
from lms_db.topology.spec import DatabaseRef

log = logging.getLogger(__name__)

Direction = Literal["up", "down"]
#: Called before (``done=False``) and after (``done=True``) each revision step.
StepCallback = Callable[["StepEvent"], None]


@dataclass(frozen=True)
class StepEvent:
    """One revision step on one database.

    :param database: the database (masked URL).
    :param revision: the revision being applied (up) or reverted (down).
    :param direction: ``up`` or ``down``.
    :param done: ``False`` when the step starts, ``True`` once it succeeded.
    """

    database: str
    revision: str
    direction: Direction
    done: bool


@dataclass(frozen=True)
class MigrationOutcome:
    """What one run did to one database.

    :param from_revision: the revision found under the lock (``None``: base).
    :param to_revision: the revision it is at now.
    :param applied: the revisions applied (up) or reverted (down), in order.
    """

    from_revision: str | None
    to_revision: str | None
    applied: tuple[str, ...]


def show_revision(revision: str | None) -> str:
    """``revision`` for people: ``base`` when no revision is applied."""
    return revision or "base"


def _sqlite_transactional(engine: Engine) -> None:
    """Make pysqlite run DDL inside real transactions (it only wraps DML by itself)."""

    @sa.event.listens_for(engine, "connect")
    def _no_implicit(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None

    @sa.event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def _sqlite_read_only_url(ref: DatabaseRef) -> sa.URL:
    database = ref.url.database or ""
    return ref.url.set(database=f"file:{database}?mode=ro", query={"uri": "true"})


def open_engine(
    ref: DatabaseRef, *, timeout: float = DEFAULT_CONNECT_TIMEOUT, read_only: bool = False
) -> Engine:
    """An engine for migrating (or, with ``read_only``, only reading) ``ref``.

    SQLite engines run DDL in transactions (``BEGIN IMMEDIATE``) and create the file's
    directory; read-only engines refuse writes at the session level (MySQL ``SET SESSION
    TRANSACTION READ ONLY``, PostgreSQL ``default_transaction_read_only``, SQLite
    ``mode=ro``), which is how replicas are always opened.

    :param ref: the database.
    :param timeout: seconds to wait for the server to accept a connection.
    :param read_only: open for reading only.
    """
    backend = ref.dialect
    args = connect_args_for(ref.url, timeout)
    if backend == "sqlite":
        if read_only:
            return sa.create_engine(_sqlite_read_only_url(ref), poolclass=sa.pool.NullPool)
        database = ref.url.database or ""
        if database and database != ":memory:" and not database.startswith("file:"):
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(
            ref.url, poolclass=sa.pool.NullPool, connect_args={"timeout": timeout}
        )
        _sqlite_transactional(engine)
        return engine
    if read_only and backend == "postgresql":
        args["options"] = "-c default_transaction_read_only=on"
    engine = sa.create_engine(ref.url, poolclass=sa.pool.NullPool, connect_args=args)
    if read_only and is_mysql_family(backend):

        @sa.event.listens_for(engine, "connect")
        def _read_only(dbapi_connection: Any, _record: Any) -> None:
            with contextlib.closing(dbapi_connection.cursor()) as cursor:
                cursor.execute("SET SESSION TRANSACTION READ ONLY")

    return engine


def current_revision(conn: Connection) -> str | None:
    """The revision recorded in ``alembic_version`` (``None``: none), leaving no transaction.

    :param conn: a connection to the database.
    """
    try:
        revision = MigrationContext.configure(conn).get_current_revision()
    finally:
        conn.rollback()
    return revision


def read_revision(ref: DatabaseRef, *, timeout: float = DEFAULT_CONNECT_TIMEOUT) -> str | None:
    """The revision of ``ref``, read without writing anything (a missing SQLite file: base).

    :param ref: a primary or a replica.
    :param timeout: seconds to wait for the server.
    :raises ConnectionFailed: the database cannot be reached.
    """
    database = ref.url.database or ""
    if ref.dialect == "sqlite" and database and not Path(database).exists():
        return None
    engine = open_engine(ref, timeout=timeout, read_only=True)
    try:
        with engine.connect() as conn:
            return current_revision(conn)
    except sa.exc.DBAPIError as exc:
        reason = short_reason(exc, ref.url.password)
        raise ConnectionFailed(f"cannot read {ref.display}: {reason}") from exc
    finally:
        engine.dispose()


@contextlib.contextmanager
def locked_connection(
    ref: DatabaseRef,
    *,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    timeout: float = DEFAULT_CONNECT_TIMEOUT,
    on_wait: LockWaitCallback | None = None,
) -> Iterator[Connection]:
    """A connection to ``ref`` holding its migration lock.

    :raises ConnectionFailed: the database cannot be reached.
    :raises LockTimeout: another run held the lock past ``lock_timeout``.
    """
    engine = open_engine(ref, timeout=timeout)
    try:
        try:
            conn = engine.connect()
        except sa.exc.DBAPIError as exc:
            reason = short_reason(exc, ref.url.password)
            raise ConnectionFailed(f"cannot connect to {ref.display}: {reason}") from exc
        with conn, migration_lock(conn, ref, timeout=lock_timeout, on_wait=on_wait):
            yield conn
    finally:
        engine.dispose()


def apply_steps(
    conn: Connection,
    ref: DatabaseRef,
    revision: str = "head",
    *,
    target: str = "oltp",
    direction: Direction = "up",
    root: Path | None = None,
    on_step: StepCallback | None = None,
    resume: StatementProgress | None = None,
    on_statement: Record | None = None,
) -> MigrationOutcome:
    """Bring the database on ``conn`` to ``revision``, one revision per step.

    Call it while holding the lock (:func:`locked_connection`): the current revision is read
    here, so a revision another run applied meanwhile is never applied twice.

    :param conn: a connection holding the database's migration lock, outside a transaction.
    :param ref: the database (for messages).
    :param revision: ``head``, ``base``, a revision id or a unique prefix.
    :param target: ``oltp`` or ``analytics``.
    :param direction: ``up`` applies newer revisions, ``down`` reverts to ``revision``.
    :param root: a migrations directory to use instead of lmsdb's own.
    :param on_step: called before and after each step.
    :param resume: what an interrupted run journaled for the revision it was applying
        (MySQL/MariaDB: :mod:`lms_db.migrate.resume` finishes it statement by statement).
    :param on_statement: called with each upgrade statement's progress, to journal it.
    :raises UnknownObjectError: unknown revision, or the database is at a revision this
        history does not know.
    :raises MigrationFailed: a step failed; ``revision`` is where the database stays.
    :raises Interrupted: SIGINT/SIGTERM: stopped before a revision or a statement;
        ``revision`` is where the database stays, ``applied`` what this run did.
    """
    check_target(target)
    script = script_directory(target, root)
    wanted = resolve_revision(script, revision)
    start = current_revision(conn)
    steps: list[tuple[str, str | None]]
    if direction == "up":
        steps = [(rev, rev) for rev in upgrade_steps(script, start, wanted)]
    else:
        steps = downgrade_steps(script, start, wanted)
    config = alembic_config(target, root=root, connection=conn)
    if conn.dialect.name == "sqlite":
        config.attributes["transactional_ddl"] = True  # see open_engine
    at: str | None = start
    applied: list[str] = []
    for rev, destination in steps:
        hooks.pause_point("migrate.revision")
        if interrupts.stop_requested():
            raise Interrupted(
                f"{ref.display}: interrupted ({interrupts.reason()}) before "
                f"revision {rev}; it stays at {show_revision(at)}",
                revision=at,
                applied=tuple(applied),
            )
        if on_step is not None:
            on_step(StepEvent(ref.display, rev, direction, done=False))
        up = direction == "up"
        try:
            with (
                ALEMBIC_LOCK,
                tracked_statements(
                    conn, rev, resume=resume if up else None, record=on_statement if up else None
                ),
            ):
                if up:
                    command.upgrade(config, rev)
                else:
                    command.downgrade(config, destination or "base")
        except Interrupted as exc:
            with contextlib.suppress(sa.exc.SQLAlchemyError):
                conn.rollback()
            raise Interrupted(
                f"{ref.display}: {exc.message}; it stays at "
                f"{show_revision(at)} (a rerun of migrate up finishes {rev})",
                revision=at,
                applied=tuple(applied),
            ) from exc
        except (LmsDbError, sa.exc.SQLAlchemyError, CommandError) as exc:
            with contextlib.suppress(sa.exc.SQLAlchemyError):
                conn.rollback()
            raise _step_failed(ref, rev, direction, at, exc) from exc
        conn.commit()
        at = destination
        applied.append(rev)
        if on_step is not None:
            on_step(StepEvent(ref.display, rev, direction, done=True))
    return MigrationOutcome(from_revision=start, to_revision=at, applied=tuple(applied))


def _step_failed(
    ref: DatabaseRef, rev: str, direction: Direction, at: str | None, exc: Exception
) -> MigrationFailed:
    reason = describe(exc, ref.url.password)
    verb = "upgrade to" if direction == "up" else "downgrade of"
    advice = ""
    if is_server_gone(exc):
        advice = (
            "; the server went away: once it is back, rerun (a revision left halfway "
            "is finished statement by statement)"
        )
    return MigrationFailed(
        f"{ref.display}: {verb} {rev} failed: {reason}; "
        f"the database stays at {show_revision(at)}{advice}",
        revision=at,
        failed_revision=rev,
    )


def migrate_database(
    ref: DatabaseRef,
    revision: str = "head",
    *,
    target: str = "oltp",
    direction: Direction = "up",
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    timeout: float = DEFAULT_CONNECT_TIMEOUT,
    root: Path | None = None,
    on_step: StepCallback | None = None,
    on_wait: LockWaitCallback | None = None,
) -> MigrationOutcome:
    """Lock ``ref`` and bring it to ``revision`` step by step (no journal, no replicas).

    :raises ConnectionFailed: the database cannot be reached.
    :raises LockTimeout: another run held the lock past ``lock_timeout``.
    :raises UnknownObjectError: unknown target or revision.
    :raises MigrationFailed: a step failed; the database stays at its last good revision.
    """
    with locked_connection(
        ref, lock_timeout=lock_timeout, timeout=timeout, on_wait=on_wait
    ) as conn:
        return apply_steps(
            conn, ref, revision, target=target, direction=direction, root=root, on_step=on_step
        )


def upgrade_database(
    ref: DatabaseRef,
    revision: str = "head",
    *,
    target: str = "oltp",
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    root: Path | None = None,
) -> str:
    """Upgrade one database (a new shard's primary, say) to ``revision`` under its lock.

    :param ref: the database, e.g. ``topology.shard("shard-4").primary``.
    :param revision: ``head`` (default), a revision id or a unique prefix.
    :param target: ``oltp`` (shard schema) or ``analytics``.
    :param lock_timeout: seconds to wait if another run is migrating the same database.
    :param root: a migrations directory to use instead of lmsdb's own.
    :returns: the revision the database is at afterwards (``base`` if none).
    :raises ConnectionFailed: the database cannot be reached.
    :raises LockTimeout: another run held the lock past ``lock_timeout``.
    :raises UnknownObjectError: unknown target or revision.
    :raises MigrationFailed: a step failed; the database stays at its last good revision.
    """
    outcome = migrate_database(ref, revision, target=target, lock_timeout=lock_timeout, root=root)
    return show_revision(outcome.to_revision)


def downgrade_database(
    ref: DatabaseRef,
    revision: str,
    *,
    target: str = "oltp",
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    root: Path | None = None,
) -> str:
    """Revert one database to ``revision`` (``base`` drops the whole schema) under its lock.

    :returns: the revision the database is at afterwards (``base`` if none).
    :raises ConnectionFailed: the database cannot be reached.
    :raises LockTimeout: another run held the lock past ``lock_timeout``.
    :raises UnknownObjectError: unknown target or revision.
    :raises MigrationFailed: a step failed; the database stays at its last good revision.
    """
    outcome = migrate_database(
        ref, revision, target=target, direction="down", lock_timeout=lock_timeout, root=root
    )
    return show_revision(outcome.to_revision)
