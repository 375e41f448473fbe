"""The same-server copy: source and destination are two databases of one MySQL/MariaDB
server, so each chunk is copied by one ``INSERT INTO dst.t SELECT ... FROM src.t`` and
no row travels through the client.

Never guessed from URLs (a proxy, a tunnel or two names of one host would fool it).
:func:`probe` proves it:

1. both connections report the same ``@@hostname``, ``@@port`` and ``@@datadir``;
2. a named lock taken on the source connection (a random name) is seen held by that very
   connection id from the destination connection (``IS_USED_LOCK``): named locks live in
   the server, so two servers cannot agree on it;
3. the destination connection (it runs the copy: its credentials write the destination)
   may ``SELECT`` every table of the keyspace in the source schema.

Any "no" (or any error) means the cross-server path, which stays as it was.  The copy is
byte for byte by construction: the server copies stored values, no client decoding (JSON
text, DECIMAL, TIMESTAMP, FLOAT, 4-byte utf8mb4 unchanged).
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from lms_db.dialects.facts import is_mysql_family
from lms_db.moves.key_chunks import chunk_where, next_upto
from lms_db.moves.scope import TableScope

log = logging.getLogger(__name__)

#: The two copy paths, as the journal, the plan and the result name them.
SERVER_PATH = "same-server"
CLIENT_PATH = "client"

_copies: dict[tuple[str, str], sa.Table] = {}


@dataclass(frozen=True)
class SameServer:
    """Proof that two connections reach one server.

    :param source_schema: the source database's name on that server.
    :param dest_schema: the destination database's name.
    """

    source_schema: str
    dest_schema: str


def _facts(conn: Connection) -> tuple[Any, ...]:
    row = conn.exec_driver_sql(
        "SELECT @@hostname, @@port, @@datadir, DATABASE(), CONNECTION_ID()"
    ).one()
    return tuple(row)


def probe(src: Connection, dst: Connection, scopes: Sequence[TableScope]) -> SameServer | None:
    """Whether ``src`` and ``dst`` are provably one server the destination can copy from.

    :param src: a connection to the source shard.
    :param dst: a connection to the destination shard.
    :param scopes: the keyspace's tables (each must be readable from ``dst``).
    :returns: the schema names, or ``None``: use the cross-server path.
    """
    if not (is_mysql_family(src.dialect.name) and is_mysql_family(dst.dialect.name)):
        return None
    try:
        return _probe(src, dst, scopes)
    except sa.exc.DBAPIError as exc:
        log.info("same-server probe: no (%s)", exc.orig)
        return None
    finally:
        src.rollback()
        dst.rollback()


def _probe(src: Connection, dst: Connection, scopes: Sequence[TableScope]) -> SameServer | None:
    s_host, s_port, s_dir, s_db, s_id = _facts(src)
    d_host, d_port, d_dir, d_db, _ = _facts(dst)
    if (s_host, s_port, s_dir) != (d_host, d_port, d_dir) or not s_db or not d_db:
        return None
    if s_db == d_db:
        return None
    name = f"lmsdb_same_server_{secrets.token_hex(16)}"
    if src.exec_driver_sql("SELECT GET_LOCK(%s, 0)", (name,)).scalar() != 1:
        return None
    try:
        holder = dst.exec_driver_sql("SELECT IS_USED_LOCK(%s)", (name,)).scalar()
    finally:
        src.exec_driver_sql("SELECT RELEASE_LOCK(%s)", (name,))
    if holder is None or int(holder) != int(s_id):
        return None
    for scope in scopes:
        # Privileges are per table: an error here means "no", not a failed move.
        query = sa.select(sa.literal(1)).select_from(scope.table).limit(0)
        dst.execute(query, execution_options=_in(str(s_db))).all()
    return SameServer(str(s_db), str(d_db))


def _in(schema: str) -> dict[str, Any]:
    """Per-statement options naming the models' tables in ``schema``.

    Per statement, never ``Connection.execution_options``: that changes the connection
    itself, and its later statements (the destination's own) would read the source.
    """
    return {"schema_translate_map": {None: schema}}


def _target(table: sa.Table, schema: str) -> sa.Table:
    """``table`` named in ``schema`` (plain columns: an INSERT target only)."""
    copy = _copies.get((table.name, schema))
    if copy is None:
        copy = sa.Table(
            table.name,
            sa.MetaData(),
            *[sa.Column(c.name, c.type, primary_key=c.primary_key) for c in table.columns],
            schema=schema,
        )
        _copies[(table.name, schema)] = copy
    return copy


def copy_chunk(
    dst: Connection,
    where: SameServer,
    scope: TableScope,
    lo: int,
    hi: int,
    after: Any,
    limit: int,
    upto: Any,
) -> tuple[Any | None, int]:
    """Copy the next chunk (about ``limit`` rows after chunk-column value ``after``, none
    above ``upto``) server-side, in the caller's destination transaction.

    :returns: the chunk's last chunk-column value (``None``: nothing left) and the rows
        copied.
    """
    opts = _in(where.source_schema)
    # The chunk's last value: an index-only read, so the copy below is an index range.
    last = next_upto(dst, scope, lo, hi, after, limit, opts, top=upto)
    if last is None:
        return None, 0
    bounds = chunk_where(scope, lo, hi, after, last)
    columns = [c.name for c in scope.table.columns]
    select = sa.select(*[scope.table.c[c] for c in columns]).where(*bounds)
    insert = sa.insert(_target(scope.table, where.dest_schema)).from_select(columns, select)
    result = dst.execute(insert, execution_options=opts)
    return last, int(result.rowcount or 0)
