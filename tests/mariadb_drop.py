"""Dropping a test's MariaDB database, tolerant of the server's transient errno 39.

MariaDB's ``DROP DATABASE`` removes the tables, then the directory; now and then (seen once in
CI, after a passing rebalance test) ``rmdir`` finds a file still there and the statement fails
with 1010 "Directory not empty".  The tables are gone by then and the name is unique to the
test, so teardown retries.  When what is left is only MariaDB's own temporary trigger files
(``<trigger>.TRN-``, ``<table>.TRG-``: the ones it writes before renaming them into place;
seen twice, after passing rebalance tests, at stops 18 and 20), teardown removes them and
drops again.  Any other file left makes it warn with the names (an error under the suite's
``filterwarnings``).
"""

from __future__ import annotations

import os
import time
import warnings

import sqlalchemy as sa

ERROR_DROPPING_DATABASE = 1010
#: Files MariaDB writes for a trigger before renaming them into place.
SERVER_TEMPORARY_SUFFIXES = (".TRN-", ".TRG-")


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
    directory = os.path.join(str(conn.exec_driver_sql("SELECT @@datadir").scalar_one()), name)
    left = _files_left(directory)
    if isinstance(left, list) and left and all(f.endswith(SERVER_TEMPORARY_SUFFIXES) for f in left):
        for file in left:
            os.remove(os.path.join(directory, file))
        conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}")
        return
    warnings.warn(f"MariaDB left the directory of {name}: {left}", stacklevel=2)


def _errno(exc: sa.exc.OperationalError) -> object:
    args = getattr(exc.orig, "args", ())
    return args[0] if args else None


def _files_left(directory: str) -> list[str] | str:
    """The files in a database's directory, when the server's data directory is local."""
    try:
        return sorted(os.listdir(directory))
    except OSError as exc:
        return f"(not readable here: {exc.strerror})"
