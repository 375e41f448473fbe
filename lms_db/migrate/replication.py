"""Replicas: their revision, their lag, and waiting for them to catch up.

Replicas are never written.  They are opened read-only (:func:`~lms_db.migrate.database.open_engine`
with ``read_only=True``) and only ever asked three things: the revision in ``alembic_version``,
the replication lag, and whether they really are replicas:

- MariaDB/MySQL: ``SHOW REPLICA STATUS`` (``SHOW SLAVE STATUS`` on older servers):
  ``Seconds_Behind_Master``/``Seconds_Behind_Source`` and whether both threads run;
- PostgreSQL: ``pg_is_in_recovery()`` and ``now() - pg_last_xact_replay_timestamp()``.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from lms_db.config import DEFAULT_CONNECT_TIMEOUT
from lms_db.dialects.facts import is_mysql_family
from lms_db.errors import ReplicaWritable
from lms_db.migrate.database import current_revision, open_engine, show_revision
from lms_db.topology.engines import short_reason
from lms_db.topology.spec import DatabaseRef

log = logging.getLogger(__name__)

#: Seconds to wait for a replica to reach its primary's revision.
DEFAULT_REPLICA_TIMEOUT = 60.0
#: Seconds between two looks at a lagging replica.
REPLICA_POLL_INTERVAL = 0.2


@dataclass(frozen=True)
class ReplicationInfo:
    """What a replica says about its replication stream.

    :param is_replica: it replicates from a primary (or is in recovery, on PostgreSQL).
    :param running: both replication threads run (``None``: not known).
    :param lag_seconds: seconds behind the primary (``None``: not known, e.g. stopped).
    :param read_only: the server refuses ordinary writes (``None``: not known).
    :param error: the replication error the server reports, if any.
    """

    is_replica: bool
    running: bool | None
    lag_seconds: float | None
    read_only: bool | None
    error: str | None = None


@dataclass(frozen=True)
class ReplicaState:
    """One replica as seen by lmsdb.

    :param database: the replica (masked URL).
    :param revision: its ``alembic_version`` (``None``: base or unreadable).
    :param lag_seconds: replication lag seen last (``None``: not known).
    :param status: ``ok`` (at the wanted revision), ``behind``, ``stopped`` (replication
        does not run: start it), ``timeout`` or ``error``.
    :param error: what went wrong, for ``timeout`` and ``error``.
    :param waited_seconds: how long lmsdb waited for it.
    """

    database: str
    revision: str | None
    lag_seconds: float | None
    status: str
    error: str | None = None
    waited_seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "database": self.database,
            "revision": show_revision(self.revision),
            "lag_seconds": self.lag_seconds,
            "status": self.status,
            "error": self.error,
            "waited_seconds": round(self.waited_seconds, 3),
        }


def _mysql_info(conn: Connection) -> ReplicationInfo:
    read_only = bool(conn.execute(sa.text("SELECT @@global.read_only")).scalar())
    row = None
    for statement in ("SHOW REPLICA STATUS", "SHOW SLAVE STATUS"):
        try:
            row = conn.execute(sa.text(statement)).mappings().first()
            break
        except sa.exc.ProgrammingError:
            conn.rollback()  # an older server without SHOW REPLICA STATUS
    if row is None:
        return ReplicationInfo(False, None, None, read_only)
    values = {k.lower(): v for k, v in row.items()}

    def get(*names: str) -> Any:
        return next((values[n] for n in names if n in values), None)

    io_running = get("slave_io_running", "replica_io_running")
    sql_running = get("slave_sql_running", "replica_sql_running")
    running = io_running == "Yes" and sql_running == "Yes"
    lag = get("seconds_behind_master", "seconds_behind_source")
    error = get("last_sql_error") or get("last_io_error") or None
    if not running and not error:
        error = f"replication stopped (IO thread: {io_running}, SQL thread: {sql_running})"
    return ReplicationInfo(
        True,
        running,
        None if lag is None else float(lag),
        read_only,
        error if not running else None,
    )


def _postgresql_info(conn: Connection) -> ReplicationInfo:
    row = conn.execute(
        sa.text(
            "SELECT pg_is_in_recovery(), "
            "EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()), "
            "current_setting('default_transaction_read_only')"
        )
    ).one()
    in_recovery, lag, _read_only = row
    return ReplicationInfo(
        bool(in_recovery), None, None if lag is None else float(lag), bool(in_recovery)
    )


def replication_info(conn: Connection) -> ReplicationInfo:
    """Ask the connected server about its replication (SQLite: a plain read-only copy).

    :param conn: a connection to the replica.
    """
    backend = conn.dialect.name
    try:
        if is_mysql_family(backend):
            return _mysql_info(conn)
        if backend == "postgresql":
            return _postgresql_info(conn)
        return ReplicationInfo(True, None, None, True)
    finally:
        conn.rollback()


def check_replica_role(ref: DatabaseRef, *, timeout: float = DEFAULT_CONNECT_TIMEOUT) -> None:
    """Refuse a "replica" that is a writable server replicating from nothing.

    An unreachable replica passes: it is reported when lmsdb waits for it.

    :param ref: a database listed as a replica.
    :raises ReplicaWritable: the server accepts writes and replicates from no primary (the
        topology probably lists a primary as a replica).
    """
    if ref.dialect == "sqlite":
        return
    engine = open_engine(ref, timeout=timeout, read_only=True)
    try:
        with engine.connect() as conn:
            info = replication_info(conn)
    except sa.exc.DBAPIError as exc:
        log.warning("replica %s unreachable: %s", ref.display, short_reason(exc))
        return
    finally:
        engine.dispose()
    if not info.is_replica and not info.read_only:
        raise ReplicaWritable(
            f"{ref.field or 'replica'}: {ref.display} is writable and replicates from no "
            "primary; list only real replicas (lmsdb never writes to them)"
        )


def read_replica(
    ref: DatabaseRef, *, timeout: float = DEFAULT_CONNECT_TIMEOUT, wanted: str | None = None
) -> ReplicaState:
    """A replica's revision and lag right now (errors are reported, not raised).

    :param ref: the replica.
    :param timeout: seconds to wait for the server.
    :param wanted: the primary's revision; ``status`` is ``ok`` when the replica has it.
    """
    engine = open_engine(ref, timeout=timeout, read_only=True)
    try:
        with engine.connect() as conn:
            revision = current_revision(conn)
            info = replication_info(conn)
    except sa.exc.DBAPIError as exc:
        reason = short_reason(exc, ref.url.password)
        return ReplicaState(ref.display, None, None, "error", f"cannot read: {reason}")
    finally:
        engine.dispose()
    # A stopped replica is not "behind": it will never catch up until someone restarts it.
    stopped = info.is_replica and info.running is False
    status = "stopped" if stopped else "ok" if revision == wanted else "behind"
    return ReplicaState(ref.display, revision, info.lag_seconds, status, info.error)


def wait_for_replica(
    ref: DatabaseRef,
    revision: str | None,
    *,
    timeout: float = DEFAULT_REPLICA_TIMEOUT,
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
) -> ReplicaState:
    """Wait until ``ref`` reports ``revision`` in ``alembic_version``, or ``timeout`` passes.

    :param ref: the replica.
    :param revision: the primary's revision after its migration (``None``: base).
    :param timeout: seconds to wait.
    :param connect_timeout: seconds to wait for the server on each look.
    :returns: ``status`` ``ok`` with the lag last seen, or ``timeout`` with a message that
        says where the replica is and why (replication stopped, its last error).
    """
    start = time.monotonic()
    while True:
        state = read_replica(ref, timeout=connect_timeout, wanted=revision)
        waited = time.monotonic() - start
        if state.status == "ok":
            return ReplicaState(ref.display, state.revision, state.lag_seconds, "ok", None, waited)
        if waited >= timeout:
            why = f": {state.error}" if state.error else ""
            lag = "" if state.lag_seconds is None else f", {state.lag_seconds:g}s behind"
            message = (
                f"replica {ref.display} still at {show_revision(state.revision)}{lag} after "
                f"{timeout:g}s, expected {show_revision(revision)}{why}"
            )
            return ReplicaState(
                ref.display, state.revision, state.lag_seconds, "timeout", message, waited
            )
        time.sleep(REPLICA_POLL_INTERVAL)
