"""What is true of each dialect lmsdb targets, in one place below the models.

The models, the DDL builders and the fleet code all ask the same questions: is this the
MySQL/MariaDB family, how is an identifier quoted, what is an object called, does an index
render here.  They ask this module (it imports nothing of lmsdb but the errors).
"""

from __future__ import annotations

from functools import cache

import sqlalchemy as sa
from sqlalchemy.engine import Dialect

from lms_db.errors import UnknownObjectError

DIALECTS = ("mysql", "mariadb", "postgresql", "sqlite")
#: MySQL 8 and MariaDB: one SQL family (AUTO_INCREMENT, ON UPDATE, GET_LOCK, SHOW REPLICA STATUS).
MYSQL_FAMILY = ("mysql", "mariadb")


def is_mysql_family(dialect_name: str) -> bool:
    """``True`` for MySQL and MariaDB (SQLAlchemy names them apart, the servers agree)."""
    return dialect_name in MYSQL_FAMILY


def get_dialect(name: str) -> Dialect:
    """A SQLAlchemy dialect instance by lmsdb dialect name (one per name, reused).

    :param name: one of :data:`DIALECTS`.
    :raises UnknownObjectError: for any other name.
    """
    if name not in DIALECTS:
        raise UnknownObjectError(f"unknown dialect {name!r}: choose one of {', '.join(DIALECTS)}")
    dialect: Dialect = sa.engine.make_url(f"{name}://").get_dialect()()
    return dialect


def quote(dialect: Dialect | str, identifier: str) -> str:
    """``identifier`` quoted for ``dialect`` where it needs it (reserved word, upper case,
    odd characters), exactly as SQLAlchemy quotes names in the DDL it renders.

    The one quoting helper: every raw statement lmsdb builds quotes names through it.
    """
    if isinstance(dialect, str):
        dialect = _dialect(dialect)
    return str(dialect.identifier_preparer.quote(identifier))


@cache
def _dialect(name: str) -> Dialect:
    return get_dialect(name)


def touch_trigger_name(table: str) -> str:
    """The ``updated_at`` trigger of ``table`` (PostgreSQL and SQLite emulate ON UPDATE)."""
    return f"trg_{table}_updated_at"


def renders_on(index: sa.Index, dialect_name: str) -> bool:
    """Whether ``index`` is created on ``dialect_name`` (``Index.ddl_if(dialect=...)``).

    SQLAlchemy keeps the condition in a private attribute; this is the one place that reads
    it.  An index without a dialect condition renders everywhere.
    """
    ddl_if = getattr(index, "_ddl_if", None)
    if ddl_if is None or ddl_if.dialect is None:
        return True
    wanted = (ddl_if.dialect,) if isinstance(ddl_if.dialect, str) else tuple(ddl_if.dialect)
    return dialect_name in wanted
