"""Engines for the databases a topology names, and the reachability check.

Every engine lmsdb opens comes from :func:`engine_for`, so connect timeouts are the same
everywhere and an unreachable server fails within seconds instead of hanging a fleet run.
Errors name the server by its masked URL (``render_as_string(hide_password=True)``).
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine

from lms_db.config import DEFAULT_CONNECT_TIMEOUT
from lms_db.dialects.facts import is_mysql_family
from lms_db.errors import ConnectionFailed
from lms_db.topology.pymysql_tls import install as share_pymysql_tls_context

if TYPE_CHECKING:  # the URL module uses these engines: no import cycle at run time
    from lms_db.topology.urls import DatabaseRef

log = logging.getLogger(__name__)

share_pymysql_tls_context()


def connect_args_for(
    url: URL, timeout: float, *, read_timeout: float | None = None
) -> dict[str, Any]:
    """Driver arguments that bound how long connecting may take.

    :param url: the database URL (its backend picks the argument names).
    :param timeout: seconds to wait for the server to accept the connection.
    :param read_timeout: seconds to wait for each answer (MySQL/MariaDB only); ``None`` for
        no limit, which long DDL needs.
    """
    backend = url.get_backend_name()
    if is_mysql_family(backend):
        args: dict[str, Any] = {"connect_timeout": max(1, math.ceil(timeout))}
        if read_timeout is not None:
            args["read_timeout"] = max(1, math.ceil(read_timeout))
            args["write_timeout"] = args["read_timeout"]
        return args
    if backend == "postgresql":
        # libpq rounds connect_timeout below 2 seconds up to 2.
        return {"connect_timeout": max(2, math.ceil(timeout))}
    return {}


def engine_for(
    ref: DatabaseRef, *, timeout: float = DEFAULT_CONNECT_TIMEOUT, **kwargs: Any
) -> Engine:
    """An engine for ``ref`` with connect timeouts set.

    :param ref: a database from the topology.
    :param timeout: seconds to wait for the server to accept each new connection.
    :param kwargs: passed to :func:`sqlalchemy.create_engine` (``poolclass``, ...).
    """
    connect_args = {**connect_args_for(ref.url, timeout), **kwargs.pop("connect_args", {})}
    return sa.create_engine(ref.url, connect_args=connect_args, **kwargs)


def connect_check(
    ref: DatabaseRef, timeout: float = DEFAULT_CONNECT_TIMEOUT, what: str | None = None
) -> None:
    """Connect to ``ref`` and run ``SELECT 1``.

    A SQLite file that does not exist yet passes without being created: migrating creates it.

    :param ref: a database from the topology.
    :param timeout: seconds to wait for the server to connect and to answer.
    :param what: what the database is, for the message (``shard shard-1 primary``).
    :raises ConnectionFailed: the server is unreachable, refuses the credentials or has no
        such database; the one-line message shows the masked URL and a short reason.
    """
    if ref.dialect == "sqlite" and _sqlite_file_missing(ref.url):
        return
    engine = sa.create_engine(
        ref.url,
        poolclass=sa.pool.NullPool,
        connect_args=connect_args_for(ref.url, timeout, read_timeout=timeout),
    )
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1")).scalar_one()
    except sa.exc.DBAPIError as exc:
        reason = short_reason(exc, ref.url.password)
        where = f"{what} ({ref.display})" if what else ref.display
        raise ConnectionFailed(
            f"cannot connect to {where}: {reason}; nothing was changed: "
            "check the server and the URL, then rerun"
        ) from exc
    finally:
        engine.dispose()


def short_reason(exc: sa.exc.DBAPIError, password: str | None = None) -> str:
    """One line from a driver error, with ``password`` masked wherever it appears.

    :param exc: the error SQLAlchemy raised.
    :param password: a secret that must not be shown.
    """
    orig = exc.orig
    args: tuple[Any, ...] = tuple(getattr(orig, "args", ()))
    if len(args) >= 2 and isinstance(args[0], int) and isinstance(args[1], str):
        text = args[1]  # PyMySQL: (errno, message)
    else:
        text = str(orig)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    reason = lines[0] if lines else type(orig).__name__
    if password:
        reason = reason.replace(password, "***")
    return reason


def _sqlite_file_missing(url: URL) -> bool:
    database = url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return False
    return not Path(database).exists()
