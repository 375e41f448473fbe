"""Reading and writing the rows of a range, byte for byte, in bounded chunks.

- Every data connection runs in UTC (``time_zone = '+00:00'`` / ``TIME ZONE 'UTC'``): a
  ``TIMESTAMP`` is read and written as the instant it is, even one hour before a DST change.
- JSON columns travel as their stored text (a ``Text`` view of the table), never parsed and
  re-serialized: key order, spacing and number spelling survive.  DECIMAL travels as
  ``Decimal``, integers as ``int`` (``BIGINT UNSIGNED`` near 2**64 included), text as ``str``
  (4-byte utf8mb4 included: the engines connect with ``utf8mb4``).
- Chunks are ranges of the table's key column (:mod:`lms_db.moves.key_chunks`).
  Inserts go out as multi-row ``INSERT`` statements of at most :data:`MAX_STATEMENT_ROWS`
  rows (SQLAlchemy's insertmanyvalues), so one statement stays well under 1 MiB for these
  tables; memory is bounded by one chunk.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.engine import Connection

from lms_db.moves.key_chunks import chunk_where
from lms_db.moves.scope import TableScope

log = logging.getLogger(__name__)

#: Rows per multi-row INSERT statement.
MAX_STATEMENT_ROWS = 500
MYSQL_FAMILY = ("mysql", "mariadb")

_raw_tables: dict[tuple[str, str], sa.Table] = {}


def utc_session(conn: Connection) -> None:
    """Put a data connection in UTC (see the module docstring).

    :param conn: a connection to a shard.
    """
    name = conn.dialect.name
    if name in MYSQL_FAMILY:
        conn.exec_driver_sql("SET time_zone = '+00:00'")
    elif name == "postgresql":
        conn.exec_driver_sql("SET TIME ZONE 'UTC'")


def raw_table(table: sa.Table, dialect: str) -> sa.Table:
    """``table`` as the copy writes it: JSON columns typed as text (their stored text is
    copied as is); on SQLite every column untyped (the stored value, e.g. a timestamp's
    text, is written back unchanged instead of re-rendered by SQLAlchemy).

    :param table: a model table.
    :param dialect: the backend's name.
    """
    raw = _raw_tables.get((table.name, dialect))
    if raw is None:
        columns = []
        for column in table.columns:
            kind: Any = column.type
            if dialect == "sqlite":
                kind = sa.types.NullType()
            elif isinstance(column.type, sa.JSON) or _is_json_variant(column.type):
                kind = sa.Text()
            columns.append(
                sa.Column(column.name, kind, primary_key=column.primary_key, autoincrement=False)
            )
        raw = sa.Table(f"{table.name}", sa.MetaData(), *columns)
        _raw_tables[(table.name, dialect)] = raw
    return raw


def _is_json_variant(kind: Any) -> bool:
    variants = getattr(kind, "_variant_mapping", {}) or {}
    return any(isinstance(v, sa.JSON) for v in variants.values())


def _json_columns(table: sa.Table) -> set[str]:
    return {
        c.name for c in table.columns if isinstance(c.type, sa.JSON) or _is_json_variant(c.type)
    }


def raw_columns(table: sa.Table, dialect: str) -> list[sa.ColumnElement[Any]]:
    """The model table's columns as the copy reads them: JSON as its text (PostgreSQL:
    ``jsonb::text``, the canonical form both sides store), on SQLite every value as stored.

    :param table: a model table.
    :param dialect: the backend's name.
    """
    json = _json_columns(table)
    out: list[sa.ColumnElement[Any]] = []
    for c in table.columns:
        if dialect == "sqlite":
            out.append(sa.type_coerce(c, sa.types.NullType()).label(c.name))
        elif c.name in json and dialect == "postgresql":
            out.append(sa.cast(c, sa.Text()).label(c.name))
        elif c.name in json:
            out.append(sa.type_coerce(c, sa.Text()).label(c.name))
        else:
            out.append(c)
    return out


def read_chunk(
    conn: Connection, scope: TableScope, lo: int, hi: int, after: Any, last: Any
) -> list[dict[str, Any]]:
    """The range's rows of one table in the chunk ``after < column <= last`` of its chunk
    column (:mod:`lms_db.moves.key_chunks`).

    :param conn: a connection to the source, in UTC.
    :param scope: the table's scope.
    :param lo: first key of the range.
    :param hi: first key after the range.
    :param after: the chunk column's last value already read (``None``: from the start).
    :param last: the chunk's last value (``None``: to the end of the range).
    """
    query = sa.select(*raw_columns(scope.table, conn.dialect.name)).where(
        *chunk_where(scope, lo, hi, after, last)
    )
    return [dict(row) for row in conn.execute(query).mappings()]


def read_rows(
    conn: Connection, scope: TableScope, lo: int, hi: int, pks: Sequence[Any]
) -> list[dict[str, Any]]:
    """The rows with these primary keys that exist and belong to the range.

    :param conn: a connection to the source, in UTC.
    :param scope: the table's scope.
    :param lo: first key of the range.
    :param hi: first key after the range.
    :param pks: primary keys to look up.
    """
    if not pks:
        return []
    query = (
        sa.select(*raw_columns(scope.table, conn.dialect.name))
        .where(scope.in_range(lo, hi))
        .where(scope.pk.in_(list(pks)))
    )
    return [dict(row) for row in conn.execute(query).mappings()]


def _value_for(conn: Connection, table: sa.Table, column: str) -> Any:
    raw = raw_table(table, conn.dialect.name)
    bind = sa.bindparam(column, type_=raw.c[column].type)
    if conn.dialect.name == "postgresql" and column in _json_columns(table):
        return sa.cast(bind, postgresql.JSONB())
    return bind


def insert_rows(conn: Connection, table: sa.Table, rows: Sequence[dict[str, Any]]) -> int:
    """Insert rows (plain ``INSERT``: a duplicate key is an error, never a silent skip).

    :param conn: a connection to the destination, in UTC, in a transaction.
    :param table: the model table.
    :param rows: rows as read by :func:`read_chunk`.
    :returns: rows inserted.
    """
    if not rows:
        return 0
    if conn.dialect.name in MYSQL_FAMILY:
        # The driver's own executemany: one multi-row INSERT per ~1 MB (PyMySQL's
        # max_stmt_length), values escaped from positional tuples (no per-row dict work).
        columns = [c.name for c in table.columns]
        prep = conn.dialect.identifier_preparer
        sql = (
            f"INSERT INTO {prep.quote(table.name)} "
            f"({', '.join(prep.quote(c) for c in columns)}) "
            f"VALUES ({', '.join(['%s'] * len(columns))})"
        )
        conn.exec_driver_sql(sql, [tuple(row[c] for c in columns) for row in rows])
        return len(rows)
    raw = raw_table(table, conn.dialect.name)
    if conn.dialect.name == "postgresql" and _json_columns(table):
        stmt = raw.insert().values({c.name: _value_for(conn, table, c.name) for c in raw.columns})
        conn.execute(stmt, list(rows))
        return len(rows)
    for start in range(0, len(rows), MAX_STATEMENT_ROWS):
        conn.execute(raw.insert(), list(rows[start : start + MAX_STATEMENT_ROWS]))
    return len(rows)


def upsert_rows(conn: Connection, table: sa.Table, rows: Sequence[dict[str, Any]]) -> int:
    """Insert rows, or overwrite every column of the rows whose primary key exists.

    Every column is assigned explicitly, so ``ON UPDATE CURRENT_TIMESTAMP`` does not stamp
    ``updated_at`` with the move's time.

    :param conn: a connection to the destination, in UTC, in a transaction.
    :param table: the model table.
    :param rows: rows as read by :func:`read_rows`.
    :returns: rows written.
    """
    if not rows:
        return 0
    raw = raw_table(table, conn.dialect.name)
    pk = [c.name for c in raw.primary_key.columns]
    others = [c.name for c in raw.columns if c.name not in pk]
    name = conn.dialect.name
    if name in MYSQL_FAMILY:
        my = mysql.insert(raw)
        stmt: Any = my.on_duplicate_key_update({c: my.inserted[c] for c in others})
    elif name == "postgresql":
        pg = postgresql.insert(raw).values(
            {c.name: _value_for(conn, table, c.name) for c in raw.columns}
        )
        # Identical rows are left alone: an UPDATE would fire the updated_at trigger,
        # which stamps the row with the move's time when updated_at does not change.
        stmt = pg.on_conflict_do_update(
            index_elements=pk,
            set_={c: pg.excluded[c] for c in others},
            where=sa.tuple_(*[raw.c[c] for c in others]).is_distinct_from(
                sa.tuple_(*[pg.excluded[c] for c in others])
            ),
        )
    else:
        lite = sqlite.insert(raw)
        stmt = lite.on_conflict_do_update(
            index_elements=pk, set_={c: lite.excluded[c] for c in others}
        )
    for start in range(0, len(rows), MAX_STATEMENT_ROWS):
        conn.execute(stmt, list(rows[start : start + MAX_STATEMENT_ROWS]))
    return len(rows)


def delete_pks(conn: Connection, table: sa.Table, pks: Iterable[Any]) -> int:
    """Delete rows by exact primary key.

    :param conn: a connection in a transaction.
    :param table: the model table.
    :param pks: the primary keys.
    :returns: rows deleted.
    """
    keys = list(pks)
    if not keys:
        return 0
    pk = next(iter(table.primary_key.columns))
    deleted = 0
    for start in range(0, len(keys), 1000):
        result = conn.execute(sa.delete(table).where(pk.in_(keys[start : start + 1000])))
        deleted += int(result.rowcount or 0)
    return deleted


def count_range(conn: Connection, scope: TableScope, lo: int, hi: int) -> int:
    """Rows of the range in one table.

    :param conn: a connection.
    :param scope: the table's scope.
    :param lo: first key of the range.
    :param hi: first key after the range.
    """
    query = sa.select(sa.func.count()).select_from(scope.table).where(scope.in_range(lo, hi))
    return int(conn.execute(query).scalar_one())
