"""Per-database migration locks, so two operators can never migrate one database at once.

- MySQL/MariaDB: ``GET_LOCK(name, timeout)`` on the migration's own connection (the server
  frees it if the connection dies);
- PostgreSQL: a session advisory lock (``pg_try_advisory_lock``) polled until the timeout;
- SQLite: ``flock`` on a ``<file>.lmsdb-lock`` file beside the database (freed when the process
  dies; two threads of one process exclude each other too).

The second run waits up to the lock timeout, then gives up with :class:`LockTimeout` naming
the database; it never runs a revision the first one already applied, because the current
revision is read again once the lock is held.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from lms_db.dialects.facts import is_mysql_family
from lms_db.errors import LockTimeout
from lms_db.topology.spec import DatabaseRef

log = logging.getLogger(__name__)

#: Seconds a run waits for another run's lock on a database before giving up.
DEFAULT_LOCK_TIMEOUT = 30.0
#: Seconds between two tries while waiting (PostgreSQL, SQLite).
POLL_INTERVAL = 0.1

LockWaitCallback = Callable[[str], None]


def lock_name(ref: DatabaseRef) -> str:
    """The lock's name for ``ref``: server-wide on MySQL, so the database name is part of it."""
    name = f"lmsdb:migrate:{ref.url.database or ''}"
    if len(name) > 64:  # MySQL's limit on lock names
        name = "lmsdb:migrate:" + hashlib.sha256(name.encode()).hexdigest()[:40]
    return name


def _advisory_key(ref: DatabaseRef) -> int:
    digest = hashlib.sha256(lock_name(ref).encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _timeout_error(ref: DatabaseRef, timeout: float, holder: str) -> LockTimeout:
    return LockTimeout(
        f"{ref.display}: another lmsdb run holds the migration lock{holder}; gave up after "
        f"{timeout:g}s. Let it finish (lmsdb migrate status) or pass a longer --lock-timeout"
    )


@contextlib.contextmanager
def migration_lock(
    conn: Connection,
    ref: DatabaseRef,
    *,
    timeout: float = DEFAULT_LOCK_TIMEOUT,
    on_wait: LockWaitCallback | None = None,
) -> Iterator[None]:
    """Hold ``ref``'s migration lock for the duration of the block.

    On MySQL and PostgreSQL the lock belongs to ``conn``'s session: run the migration on that
    same connection.  ``conn`` leaves every lock call with no transaction open.

    :param conn: the connection the migration will run on.
    :param ref: the database (for the lock's name and messages).
    :param timeout: seconds to wait for another run's lock.
    :param on_wait: called once with a message when the lock is busy and the run waits.
    :raises LockTimeout: the lock was still held after ``timeout`` seconds.
    """
    backend = conn.dialect.name
    if is_mysql_family(backend):
        with _mysql_lock(conn, ref, timeout, on_wait):
            yield
    elif backend == "postgresql":
        with _postgresql_lock(conn, ref, timeout, on_wait):
            yield
    else:
        with file_lock(ref, timeout=timeout, on_wait=on_wait):
            yield


@contextlib.contextmanager
def _mysql_lock(
    conn: Connection, ref: DatabaseRef, timeout: float, on_wait: LockWaitCallback | None
) -> Iterator[None]:
    name = lock_name(ref)
    got = conn.execute(sa.text("SELECT GET_LOCK(:n, 0)"), {"n": name}).scalar()
    if got != 1:
        holder = conn.execute(sa.text("SELECT IS_USED_LOCK(:n)"), {"n": name}).scalar()
        shown = f" (connection {holder})" if holder is not None else ""
        if on_wait is not None:
            on_wait(f"{ref.display}: waiting up to {timeout:g}s for the migration lock{shown}")
        seconds = max(0, int(timeout + 0.999))
        got = conn.execute(sa.text("SELECT GET_LOCK(:n, :t)"), {"n": name, "t": seconds}).scalar()
        if got != 1:
            conn.rollback()
            raise _timeout_error(ref, timeout, shown)
    conn.commit()
    try:
        yield
    finally:
        with contextlib.suppress(sa.exc.DBAPIError):
            conn.rollback()
            conn.execute(sa.text("SELECT RELEASE_LOCK(:n)"), {"n": name})
            conn.commit()


@contextlib.contextmanager
def _postgresql_lock(
    conn: Connection, ref: DatabaseRef, timeout: float, on_wait: LockWaitCallback | None
) -> Iterator[None]:
    key = _advisory_key(ref)
    deadline = time.monotonic() + timeout
    waited = False
    while True:
        got = conn.execute(sa.text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar()
        conn.commit()
        if got:
            break
        if not waited and on_wait is not None:
            on_wait(f"{ref.display}: waiting up to {timeout:g}s for the migration lock")
        waited = True
        if time.monotonic() >= deadline:
            holder = conn.execute(
                sa.text(
                    "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted "
                    "AND objsubid = 1 AND classid::bigint = :hi AND objid::bigint = :lo"
                ),
                {"hi": (key >> 32) & 0xFFFFFFFF, "lo": key & 0xFFFFFFFF},
            ).scalar()
            conn.commit()
            raise _timeout_error(ref, timeout, f" (backend pid {holder})" if holder else "")
        time.sleep(POLL_INTERVAL)
    try:
        yield
    finally:
        with contextlib.suppress(sa.exc.DBAPIError):
            conn.rollback()
            conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": key})
            conn.commit()


def lock_file_path(ref: DatabaseRef) -> Path:
    """The lock file beside a SQLite database (``<file>.lmsdb-lock``)."""
    database = ref.url.database or ""
    if not database or database == ":memory:" or database.startswith("file:"):
        # No file to sit beside: lock per process user in the temp directory.
        digest = hashlib.sha256(ref.display.encode()).hexdigest()[:16]
        return Path(tempfile.gettempdir()) / f"lmsdb-{digest}.lmsdb-lock"
    return Path(database + ".lmsdb-lock")


@contextlib.contextmanager
def file_lock(
    ref: DatabaseRef,
    *,
    timeout: float = DEFAULT_LOCK_TIMEOUT,
    on_wait: LockWaitCallback | None = None,
) -> Iterator[None]:
    """An exclusive ``flock`` on ``ref``'s lock file, polled until ``timeout``.

    :raises LockTimeout: still held by another run after ``timeout`` seconds.
    """
    path = lock_file_path(ref)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + timeout
        waited = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not waited and on_wait is not None:
                    on_wait(f"{ref.display}: waiting up to {timeout:g}s for the migration lock")
                waited = True
                if time.monotonic() >= deadline:
                    raise _timeout_error(ref, timeout, f" ({path})") from None
                time.sleep(POLL_INTERVAL)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
