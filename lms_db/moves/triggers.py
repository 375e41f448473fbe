"""Server-side machinery of a move on the source shard: the changelog and the fence.

Both are triggers, so they see every writer, not only Router users (pt-online-schema-change
and Facebook OSC capture changes the same way; docs/decisions.md says why not the binlog):

- **changelog**: ``AFTER INSERT/UPDATE/DELETE`` triggers write the primary key of every
  changed row of the moving range to ``lmsdb_move_changes``, in the writer's own
  transaction (the entry becomes visible exactly when the change does);
- **fence**: ``BEFORE INSERT/UPDATE/DELETE`` triggers refuse any write whose row key lies in
  the fenced range (``SIGNAL SQLSTATE '45000'`` on MariaDB/MySQL, ``RAISE EXCEPTION`` on
  PostgreSQL, ``RAISE(ABORT)`` on SQLite).  They stay after the switch: a stale or direct
  writer gets an error, never a silent loss.  ``lmsdb_fences`` records each fence; the
  fence triggers themselves are built in :mod:`lms_db.moves.fence_set` (one set per
  table for all its fences).

The range bounds are constants in each trigger (no lookup per write).  Rows of ``shard_via``
tables find their key through their parent (a scalar subquery on the parent's primary key).
Creating a trigger takes the table's metadata lock (MySQL) or a SHARE ROW EXCLUSIVE lock
(PostgreSQL), which waits for transactions that already touched the table: once the fence
triggers exist, no transaction that wrote the range before them is still open.  The wait is
bounded by ``lock_wait_timeout`` / ``lock_timeout`` / SQLite's busy timeout.

The mover itself must write the fenced range on the source (deleting the moved rows): on
MariaDB/MySQL it sets ``@lmsdb_fence_bypass``, on PostgreSQL ``lmsdb.fence_bypass`` (both to
the move's id, in its own session only); on SQLite, whose triggers cannot see a session, it
drops and re-creates the fence triggers inside its own write transaction (SQLite DDL is
transactional and writers are serialized, so no other writer ever sees them missing).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from lms_db.dialects import quote
from lms_db.moves.scope import TableScope

log = logging.getLogger(__name__)

#: lmsdb's own tables in a shard database (ignored by drift checks).
CHANGES_TABLE = "lmsdb_move_changes"
FENCES_TABLE = "lmsdb_fences"
#: Text every fence error carries (writers match it to retry through the Router).
FENCE_MESSAGE = "lmsdb fence"

move_metadata = sa.MetaData()

changes = sa.Table(
    CHANGES_TABLE,
    move_metadata,
    sa.Column(
        "id",
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    sa.Column("move_id", sa.BigInteger(), nullable=False),
    sa.Column("table_name", sa.String(64), nullable=False),
    # Text: some primary keys are not integers (user_sessions.id is a session token).
    sa.Column("pk", sa.String(255), nullable=False),
    sa.Index("ix_lmsdb_move_changes_move", "move_id", "id"),
    mysql_engine="InnoDB",
    mariadb_engine="InnoDB",
)

fences = sa.Table(
    FENCES_TABLE,
    move_metadata,
    sa.Column("move_id", sa.BigInteger(), primary_key=True, autoincrement=False),
    sa.Column("keyspace", sa.String(16), nullable=False),
    sa.Column("lo", sa.BigInteger(), nullable=False),
    sa.Column("hi", sa.BigInteger(), nullable=False),
    sa.Column("shard", sa.String(64), nullable=False),
    mysql_engine="InnoDB",
    mariadb_engine="InnoDB",
)

MYSQL_FAMILY = ("mysql", "mariadb")


def ensure_move_tables(conn: Connection) -> None:
    """Create ``lmsdb_move_changes`` and ``lmsdb_fences`` on a shard when missing.

    :param conn: a connection to the shard's primary.
    """
    move_metadata.create_all(conn, checkfirst=True)


def _quoter(conn: Connection) -> Callable[[str], str]:
    def q(name: str) -> str:
        return quote(conn.dialect, name)

    return q


def key_sql(conn: Connection, scope: TableScope, row: str) -> str:
    """SQL for the shard key of trigger row ``row`` (``NEW``/``OLD``) of ``scope``'s table.

    :param conn: a connection (for quoting).
    :param scope: the table's scope.
    :param row: ``NEW`` or ``OLD``.
    """
    q = _quoter(conn)
    if scope.direct:
        return f"{row}.{q(scope.key_column)}"
    expr = f"{row}.{q(scope.hops[0].child_column)}"
    for index, hop in enumerate(scope.hops):
        wanted = (
            scope.key_column if index == len(scope.hops) - 1 else scope.hops[index + 1].child_column
        )
        expr = (
            f"(SELECT {q(wanted)} FROM {q(hop.parent.name)} WHERE {q(hop.parent_column)} = {expr})"
        )
    return expr


def _in_range(key: str, lo: int, hi: int) -> str:
    return f"({key} >= {int(lo)} AND {key} < {int(hi)})"


def trigger_names(conn: Connection, kind: str, move_id: int, scope: TableScope) -> list[str]:
    """Names of the triggers of one kind (``c``: changelog, ``f``: fence) on one table.

    :param conn: a connection (its dialect decides how many triggers there are).
    :param kind: ``c`` or ``f``.
    :param move_id: the move's journal id.
    :param scope: the table's scope.
    """
    base = f"lmsdb_{kind}{int(move_id)}_{scope.name}"
    if conn.dialect.name == "postgresql":
        return [base]
    return [f"{base}_{op}" for op in ("i", "u", "d")]


def existing_triggers(conn: Connection, prefix: str = "lmsdb_") -> set[str]:
    """Names of the triggers in the shard database starting with ``prefix``.

    :param conn: a connection to the shard.
    :param prefix: the name prefix.
    """
    name = conn.dialect.name
    if name in MYSQL_FAMILY:
        # EVENT_OBJECT_SCHEMA (always the trigger's own schema) is what MariaDB looks
        # triggers up by; on TRIGGER_SCHEMA alone it opens every table of every database
        # of the server, and waits behind any DDL pending anywhere on it.
        query = (
            "SELECT TRIGGER_NAME FROM information_schema.TRIGGERS "
            "WHERE EVENT_OBJECT_SCHEMA = DATABASE()"
        )
    elif name == "postgresql":
        query = "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal"
    else:
        query = "SELECT name FROM sqlite_master WHERE type = 'trigger'"
    return {str(n) for n in conn.exec_driver_sql(query).scalars() if str(n).startswith(prefix)}


def changelog_statements(
    conn: Connection, move_id: int, scope: TableScope, lo: int, hi: int
) -> list[str]:
    """``CREATE TRIGGER`` statements that log changed primary keys of the range.

    :param conn: a connection to the source shard.
    :param move_id: the move's journal id (stored with each entry, part of the names).
    :param scope: the table's scope.
    :param lo: first key of the range.
    :param hi: first key after the range.
    """
    q = _quoter(conn)
    table, pk, m = q(scope.name), q(scope.pk.name), int(move_id)
    if conn.dialect.name == "postgresql":
        pk = f"{pk}::text"
    log_table = q(CHANGES_TABLE)
    new_in = _in_range(key_sql(conn, scope, "NEW"), lo, hi)
    old_in = _in_range(key_sql(conn, scope, "OLD"), lo, hi)
    values = f"INSERT INTO {log_table} (move_id, table_name, pk) VALUES ({m}, '{scope.name}', "
    names = trigger_names(conn, "c", move_id, scope)
    dialect = conn.dialect.name
    if dialect in MYSQL_FAMILY:
        return [
            f"CREATE TRIGGER {q(names[0])} AFTER INSERT ON {table} FOR EACH ROW "
            f"BEGIN IF {new_in} THEN {values}NEW.{pk}); END IF; END",
            f"CREATE TRIGGER {q(names[1])} AFTER UPDATE ON {table} FOR EACH ROW "
            f"BEGIN IF {new_in} OR {old_in} THEN {values}NEW.{pk}); "
            f"IF NEW.{pk} <> OLD.{pk} THEN {values}OLD.{pk}); END IF; END IF; END",
            f"CREATE TRIGGER {q(names[2])} AFTER DELETE ON {table} FOR EACH ROW "
            f"BEGIN IF {old_in} THEN {values}OLD.{pk}); END IF; END",
        ]
    if dialect == "postgresql":
        function = q(names[0])
        return [
            f"CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $$\n"
            "BEGIN\n"
            f"  IF TG_OP IN ('INSERT', 'UPDATE') AND {new_in} THEN {values}NEW.{pk}); END IF;\n"
            f"  IF TG_OP IN ('UPDATE', 'DELETE') AND {old_in} THEN {values}OLD.{pk}); END IF;\n"
            "  RETURN NULL;\n"
            "END\n$$",
            f"CREATE TRIGGER {function} AFTER INSERT OR UPDATE OR DELETE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION {function}()",
        ]
    return [
        f"CREATE TRIGGER {q(names[0])} AFTER INSERT ON {table} WHEN {new_in} "
        f"BEGIN {values}NEW.{pk}); END",
        f"CREATE TRIGGER {q(names[1])} AFTER UPDATE ON {table} WHEN {new_in} OR {old_in} "
        f"BEGIN {values}NEW.{pk}); {values}OLD.{pk}); END",
        f"CREATE TRIGGER {q(names[2])} AFTER DELETE ON {table} WHEN {old_in} "
        f"BEGIN {values}OLD.{pk}); END",
    ]


def fence_message(keyspace: str, lo: int, hi: int, move_id: int) -> str:
    """The error text of a refused write (no quotes: it is embedded in SQL)."""
    return (
        f"{FENCE_MESSAGE}: {keyspace} keys [{int(lo)}, {int(hi)}) are frozen or moved away "
        f"from this shard (move {int(move_id)}); retry through the Router"
    )


def drop_statements(conn: Connection, kind: str, move_id: int, scope: TableScope) -> list[str]:
    """``DROP`` statements for one kind of trigger on one table (idempotent).

    :param conn: a connection to the shard.
    :param kind: ``c`` (changelog) or ``f`` (fence).
    :param move_id: the move's journal id.
    :param scope: the table's scope.
    """
    q = _quoter(conn)
    names = trigger_names(conn, kind, move_id, scope)
    if conn.dialect.name == "postgresql":
        return [
            f"DROP TRIGGER IF EXISTS {q(names[0])} ON {q(scope.name)}",
            f"DROP FUNCTION IF EXISTS {q(names[0])}()",
        ]
    return [f"DROP TRIGGER IF EXISTS {q(n)}" for n in names]


def run_all(conn: Connection, statements: Sequence[str]) -> None:
    """Execute raw statements in order (``%`` kept literal for format-style drivers).

    :param conn: a connection.
    :param statements: the statements.
    """
    for statement in statements:
        if conn.dialect.paramstyle in ("format", "pyformat"):
            statement = statement.replace("%", "%%")
        conn.exec_driver_sql(statement)
