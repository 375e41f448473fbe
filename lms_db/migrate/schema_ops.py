"""Operations that revision scripts call: create or drop a frozen snapshot of the schema.

An initial revision (``0001`` for OLTP, ``a001`` for analytics) ships the DDL that
``lms_db.schema.ddl.schema_statements`` rendered when it was written, one ``<dialect>.sql`` file per
dialect in a folder beside the revision.  It is frozen: when the models change, a new
revision carries the change, and ``tests/backend/test_migrations_match_models.py`` fails
until it does.  Only call these from inside a running Alembic migration.

MySQL and MariaDB commit every DDL statement on its own, so a revision cannot be rolled back
there: :func:`create_schema_objects` first refuses when any table it would create exists, and if
a statement fails halfway it drops the tables it created, so the database is left exactly at
the previous revision and a rerun starts clean.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from alembic import op
from sqlalchemy.engine import Dialect

from lms_db.dialects import run_statement
from lms_db.dialects.facts import is_mysql_family
from lms_db.dialects.postgresql import TOUCH_FUNCTION
from lms_db.errors import MigrationFailed
from lms_db.migrate.resume import forget_progress, is_resuming

log = logging.getLogger(__name__)

#: How rendered scripts separate statements (see lms_db.schema.ddl.render_schema).
STATEMENT_SEPARATOR = ";\n\n"
_CREATE_TABLE = re.compile(r"CREATE TABLE (\w+) \(")
_CREATE_VIEW = re.compile(r"CREATE MATERIALIZED VIEW (\w+)")


@dataclass(frozen=True)
class SchemaSnapshot:
    """The frozen DDL of an initial revision: ``<dialect>.sql`` files in ``directory``.

    :param directory: the folder beside the revision script.
    """

    directory: Path

    def statements(self, dialect_name: str, *, hypertable: bool = False) -> list[str]:
        """The statements for ``dialect_name``, in order.

        :raises MigrationFailed: the revision has no DDL for this dialect.
        """
        name = f"{dialect_name}-hypertable.sql" if hypertable else f"{dialect_name}.sql"
        path = self.directory / name
        if not path.exists():
            raise MigrationFailed(f"revision snapshot {self.directory.name} has no {name}")
        lines = [ln for ln in path.read_text().splitlines() if not ln.startswith("-- ")]
        body = "\n".join(lines).strip().removesuffix(";")
        return [s.strip() for s in body.split(STATEMENT_SEPARATOR) if s.strip()]

    def tables(self, dialect_name: str) -> list[str]:
        """Tables the snapshot creates (not partitions), in creation order."""
        return [m.group(1) for s in self.statements(dialect_name) if (m := _CREATE_TABLE.match(s))]

    def views(self, dialect_name: str) -> list[str]:
        """Materialized views the snapshot creates."""
        return [m.group(1) for s in self.statements(dialect_name) if (m := _CREATE_VIEW.match(s))]


def _quote(dialect: Dialect, name: str) -> str:
    """``name``, quoted only where the dialect needs it (readable offline SQL)."""
    return str(dialect.identifier_preparer.quote(name))


def has_timescaledb(conn: sa.Connection) -> bool:
    """Whether the TimescaleDB extension is installed in the connected PostgreSQL database.

    :param conn: a PostgreSQL connection.
    """
    found = conn.execute(sa.text("SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'"))
    return found.first() is not None


def create_schema_objects(snapshot: SchemaSnapshot, *, timescale_aware: bool = False) -> None:
    """Create every table, index, trigger, view and policy of a snapshot (initial revision).

    Offline (``lmsdb migrate sql``) the statements are emitted as text; TimescaleDB cannot be
    detected there, so analytics is rendered with native partitioning.

    :param snapshot: the revision's frozen DDL.
    :param timescale_aware: use the ``-hypertable`` DDL when PostgreSQL has TimescaleDB.
    :raises MigrationFailed: a table the revision creates already exists (created by hand or
        by another tool); nothing was changed.
    """
    ctx = op.get_context()
    dialect_name = ctx.dialect.name
    if ctx.as_sql:
        for statement in snapshot.statements(dialect_name):
            op.execute(statement)
        return
    conn = op.get_bind()
    hypertable = timescale_aware and dialect_name == "postgresql" and has_timescaledb(conn)
    statements = snapshot.statements(dialect_name, hypertable=hypertable)
    wanted = snapshot.tables(dialect_name)
    existing = set(sa.inspect(conn).get_table_names()) & set(wanted)
    if existing and not is_resuming():  # resuming: the journal knows who created them
        names = ", ".join(sorted(existing))
        raise MigrationFailed(
            f"table(s) {names} already exist but the database has no lmsdb revision: "
            "drop them (or move them away) and rerun; nothing was changed"
        )
    try:
        for statement in statements:
            run_statement(conn, statement)
    except sa.exc.DBAPIError as exc:
        if is_mysql_family(dialect_name) and not exc.connection_invalidated:
            try:
                _drop_created(conn, wanted)
            except sa.exc.SQLAlchemyError:
                log.warning(
                    "could not undo the half-applied initial revision; a rerun "
                    "finishes it from the journal"
                )
            else:
                forget_progress()  # undone: a rerun starts the revision afresh
        raise


def _drop_created(conn: sa.Connection, tables: list[str]) -> None:
    """Undo a half-applied initial revision on MySQL/MariaDB (DDL there is not transactional)."""
    present = set(sa.inspect(conn).get_table_names())
    for table in reversed(tables):
        if table in present:
            log.warning("initial revision failed: dropping %s, which it created", table)
            run_statement(conn, f"DROP TABLE IF EXISTS {_quote(conn.dialect, table)}")


def drop_schema_objects(snapshot: SchemaSnapshot) -> None:
    """Drop everything :func:`create_schema_objects` created (an initial revision's downgrade).

    :param snapshot: the revision's frozen DDL.
    """
    dialect = op.get_context().dialect
    postgresql = dialect.name == "postgresql"
    for view in snapshot.views(dialect.name):
        op.execute(f"DROP MATERIALIZED VIEW IF EXISTS {_quote(dialect, view)}")
    cascade = " CASCADE" if postgresql else ""
    for table in reversed(snapshot.tables(dialect.name)):
        op.execute(f"DROP TABLE IF EXISTS {_quote(dialect, table)}{cascade}")
    if postgresql and any(TOUCH_FUNCTION in s for s in snapshot.statements(dialect.name)):
        op.execute(f"DROP FUNCTION IF EXISTS {TOUCH_FUNCTION}()")
