"""One line for any failure: which shard, which server (masked URL), what happened, what to do.

Every library entry point that touches several databases turns what goes wrong on one of
them into an :class:`~lms_db.errors.LmsDbError` here, so no driver exception (PyMySQL,
psycopg, sqlite3, a socket error) ever reaches a user as a traceback.  The exit-code rule
(``lms_db.errors``): a server unreachable *before any change* is bad input (2,
:class:`~lms_db.errors.ConnectionFailed`); one lost *after work began* is a failure (1,
:class:`~lms_db.errors.ServerLost`, retryable).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from lms_db.errors import ConnectionFailed, LmsDbError, ServerLost
from lms_db.topology.engines import short_reason

#: PyMySQL error numbers of a server that is down, unreachable or went away.
_MYSQL_GONE = {2003, 2006, 2013, 2055, 1927, 1053}


def describe(exc: BaseException, password: str | None = None) -> str:
    """One line saying what ``exc`` means, secrets masked.

    :param exc: any exception (an lmsdb error, a driver error, an OS error).
    :param password: a secret to mask wherever it appears.
    """
    if isinstance(exc, LmsDbError):
        text = exc.message
    elif isinstance(exc, sa.exc.DBAPIError):
        text = short_reason(exc, password)
        if text == type(exc.orig).__name__ and is_server_gone(exc):
            text = f"the connection to the server was lost ({text})"
    else:
        first = (str(exc).strip().splitlines() or [""])[0]
        text = f"{type(exc).__name__}: {first}" if first else type(exc).__name__
    return text.replace(password, "***") if password else text


def is_driver_error(exc: BaseException) -> bool:
    """Whether ``exc`` comes from a database driver or the network (not a bug in lmsdb)."""
    return isinstance(exc, sa.exc.SQLAlchemyError | OSError)


def is_server_gone(exc: BaseException) -> bool:
    """Whether ``exc`` says the server is down, unreachable or dropped the connection."""
    if isinstance(exc, ConnectionFailed | ServerLost):
        return True
    if isinstance(exc, sa.exc.DBAPIError):
        if exc.connection_invalidated or isinstance(exc, sa.exc.InterfaceError):
            return True
        args = getattr(exc.orig, "args", ())
        if args and isinstance(args[0], int) and args[0] in _MYSQL_GONE:
            return True
        text = str(exc.orig).lower()
        return any(
            s in text
            for s in (
                "connection refused",
                "server closed the connection",
                "terminating connection",
                "connection timed out",
                "could not connect",
                "connection is closed",
            )
        )
    return isinstance(exc, ConnectionError | TimeoutError)


@dataclass(frozen=True)
class ShardFailure:
    """One shard that could not be worked on.

    :param shard: the shard.
    :param database: its primary, masked URL.
    :param message: what happened.
    :param retryable: a rerun may succeed once the cause is fixed (a server back up).
    """

    shard: str
    database: str
    message: str
    retryable: bool = False

    @property
    def line(self) -> str:
        """The failure as one line for people."""
        return f"{self.shard} ({self.database}): {self.message}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "shard": self.shard,
            "database": self.database,
            "error": self.message,
            "retryable": self.retryable,
        }


def shard_failure(
    shard: str, database: str, exc: BaseException, *, password: str | None = None
) -> ShardFailure:
    """``exc`` met on ``shard`` as a :class:`ShardFailure` with advice.

    :param shard: the shard.
    :param database: its masked URL.
    :param exc: what was raised.
    :param password: a secret to mask.
    """
    gone = is_server_gone(exc)
    text = describe(exc, password)
    if gone and "rerun" not in text:
        text += "; check the server is up and reachable, then rerun"
    retryable = gone or bool(getattr(exc, "retryable", False))
    return ShardFailure(shard, database, text, retryable)


def as_lmsdb_error(
    exc: BaseException, *, where: str, began: bool, password: str | None = None
) -> LmsDbError:
    """``exc`` as an lmsdb error naming ``where`` (``shard p1 (mysql://…/p1)``, ``catalog …``).

    :param exc: what was raised.
    :param where: the shard and masked URL, or the database, for the message.
    :param began: whether work had begun (decides exit 1 rather than 2 for a lost server).
    :param password: a secret to mask.
    """
    if isinstance(exc, LmsDbError) and where in exc.message:
        return exc
    text = f"{where}: {describe(exc, password)}"
    if is_server_gone(exc):
        if not began:
            return ConnectionFailed(text + "; nothing was changed: check the server, rerun")
        return ServerLost(text + "; check the server is up, then rerun to resume")
    if isinstance(exc, LmsDbError):
        exc.message = text  # same class, exit code and data; the message names the place
        exc.args = (text,)
        return exc
    return ServerLost(text + "; rerun with --debug for the traceback")
