"""Dropping a test's MariaDB database, tolerant of the server's transient errno 39.

MariaDB's ``DROP DATABASE`` removes the tables, then the directory; now and then (seen once in
CI, after a passing rebalance test) ``rmdir`` finds a file still there and the statement fails
with 1010 "Directory not empty".  The tables are gone by then and the name is unique to the
test, so teardown retries, and if the directory stays, warns with what is left in it instead of
failing a test whose assertions all passed.
"""

from __future__ import annotations

import os
import time
import warnings

import sqlalchemy as sa

ERROR_DROPPING_DATABASE = 1010


def drop_mariadb_database(conn: sa.Connection, name: str, attempts: int = 5) -> None:
    """``DROP DATABASE IF EXISTS name``, retried while the server cannot remove its directory."""
    for attempt in range(attempts):
        try:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}")
            return
        except sa.exc.OperationalError as exc:
            if _errno(exc) != ERROR_DROPPING_DATABASE:
                raise
            time.sleep(0.2 * (attempt + 1))
    warnings.warn(f"MariaDB left the directory of {name}: {_files_left(conn, name)}", stacklevel=2)


def _errno(exc: sa.exc.OperationalError) -> object:
    args = getattr(exc.orig, "args", ())
    return args[0] if args else None


def _files_left(conn: sa.Connection, name: str) -> list[str] | str:
    """The files in the database's directory, when the server's data directory is local."""
    datadir = conn.exec_driver_sql("SELECT @@datadir").scalar_one()
    path = os.path.join(str(datadir), name)
    try:
        return sorted(os.listdir(path))
    except OSError as exc:
        return f"(not readable here: {exc.strerror})"
