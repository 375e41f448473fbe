"""Each dialect's id counter: read where it stands, move it inside an id window.

- MySQL/MariaDB: the table's ``AUTO_INCREMENT`` (``ALTER TABLE t AUTO_INCREMENT = n``).  It
  can only move up past the largest id in the table, and nothing stops it at a window's
  end: lmsdb keeps it inside by granting the next window before it runs out.
- PostgreSQL: the ``BIGSERIAL`` column's sequence (``setval``/``ALTER SEQUENCE ... MAXVALUE``):
  the window's upper bound is enforced (``nextval`` fails past ``MAXVALUE``).
- SQLite: an ``INTEGER PRIMARY KEY`` without ``AUTOINCREMENT`` hands out ``max(rowid) + 1``,
  which a row moved in from another shard would drag into a foreign window.  So there is no
  counter: ids come explicitly from the window (:meth:`lms_db.ids.windows.IdWindows.reserve`),
  inside the inserting transaction (SQLite serializes writers).
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from lms_db.dialects import quote
from lms_db.dialects.facts import is_mysql_family
from lms_db.errors import OperationError

log = logging.getLogger(__name__)


def max_id(
    conn: Connection, table: str, column: str, lo: int = 0, hi: int | None = None
) -> int | None:
    """The largest id of ``table`` in ``[lo, hi)`` (everywhere when ``hi`` is ``None``).

    :param conn: a connection to a shard.
    :param table: the table.
    :param column: its id column.
    :param lo: lowest id considered.
    :param hi: first id not considered.
    """
    d = conn.dialect
    sql = f"SELECT MAX({quote(d, column)}) FROM {quote(d, table)} WHERE {quote(d, column)} >= :lo"
    params = {"lo": lo}
    if hi is not None:
        sql += f" AND {quote(d, column)} < :hi"
        params["hi"] = hi
    value = conn.execute(sa.text(sql), params).scalar()
    return None if value is None else int(value)


def _pg_sequence(conn: Connection, table: str, column: str) -> str:
    name = conn.execute(
        sa.text("SELECT pg_get_serial_sequence(:t, :c)"), {"t": table, "c": column}
    ).scalar()
    if not name:
        raise OperationError(f"{table}.{column} has no sequence on {conn.engine.url.database}")
    return str(name)


def counter_position(conn: Connection, table: str, column: str) -> int | None:
    """The next id the database will hand out for ``table``; ``None`` on SQLite (no counter).

    :param conn: a connection to a shard.
    :param table: a table with an auto-increment id.
    :param column: its id column.
    """
    name = conn.dialect.name
    if is_mysql_family(name):
        if name == "mysql" and not _is_mariadb(conn):
            # MySQL 8 caches information_schema statistics for a day by default.
            conn.exec_driver_sql("SET SESSION information_schema_stats_expiry = 0")
        value = conn.execute(
            sa.text(
                "SELECT AUTO_INCREMENT FROM information_schema.TABLES "
                "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = :t"
            ),
            {"t": table},
        ).scalar()
        return int(value) if value is not None else 1
    if name == "postgresql":
        sequence = _pg_sequence(conn, table, column)
        last, called = conn.execute(sa.text(f"SELECT last_value, is_called FROM {sequence}")).one()
        return int(last) + 1 if called else int(last)
    return None


def counter_bounds(conn: Connection, table: str, column: str) -> tuple[int, int] | None:
    """PostgreSQL: the sequence's ``(MINVALUE, MAXVALUE)``; ``None`` elsewhere (no bounds).

    :param conn: a connection to a shard.
    :param table: a table with an auto-increment id.
    :param column: its id column.
    """
    if conn.dialect.name != "postgresql":
        return None
    sequence = _pg_sequence(conn, table, column)
    low, high = conn.execute(
        sa.text("SELECT seqmin, seqmax FROM pg_sequence WHERE seqrelid = CAST(:s AS regclass)"),
        {"s": sequence},
    ).one()
    return int(low), int(high)


def position_counter(
    conn: Connection,
    table: str,
    column: str,
    *,
    next_id: int,
    hi: int,
    lo: int | None = None,
    restart: bool = True,
) -> None:
    """Make the database hand out ``next_id`` next, and (PostgreSQL) nothing outside
    ``[lo, hi)``.

    MySQL/MariaDB commit implicitly around the ``ALTER TABLE``: pass a connection with no
    work of the caller's in flight.  On SQLite this does nothing (ids are explicit).

    :param conn: a connection to a shard.
    :param table: a table with an auto-increment id.
    :param column: its id column.
    :param next_id: the next id to hand out (at least 1).
    :param hi: first id after the window.
    :param lo: first id of the window (PostgreSQL ``MINVALUE``; ``None`` keeps it).
    :param restart: ``False`` only sets the bounds (the counter continues where it is:
        a window granted right after the current one).
    """
    name = conn.dialect.name
    if is_mysql_family(name):
        if restart:
            # InnoDB never lowers the counter below max(id) + 1, so this only moves it up.
            conn.exec_driver_sql(
                f"ALTER TABLE {quote(conn.dialect, table)} AUTO_INCREMENT = {int(next_id)}"
            )
    elif name == "postgresql":
        sequence = _pg_sequence(conn, table, column)
        # START WITH travels with MINVALUE (PostgreSQL refuses a start below the minimum);
        # RESTART WITH n: n comes next.  Past the window's end nextval fails instead.
        bounds = f"MAXVALUE {int(hi) - 1}"
        if lo is not None:
            bounds = f"MINVALUE {int(lo)} {bounds} START WITH {int(lo)}"
        if restart:
            bounds += f" RESTART WITH {int(min(next_id, hi - 1))}"
        conn.exec_driver_sql(f"ALTER SEQUENCE {sequence} {bounds}")
        if restart and next_id >= hi:
            conn.execute(
                sa.text("SELECT setval(CAST(:s AS regclass), :v, true)"),
                {"s": sequence, "v": int(hi) - 1},
            )
    log.debug("positioned %s.%s at %d (window ends %d)", table, column, next_id, hi)


def _is_mariadb(conn: Connection) -> bool:
    return bool(getattr(conn.dialect, "is_mariadb", False))
