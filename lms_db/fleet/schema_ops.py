"""Operations that revision scripts call: create or drop the whole schema of a target.

The initial revisions of ``migrations/oltp`` and ``migrations/analytics`` call
:func:`create_schema_objects`, which runs exactly :func:`lms_db.ddl.schema_statements` for the
migration's dialect, so the models, ``lmsdb schema sql``, the committed ``sql/`` files and the
migrations have one source.  Only call these from inside a running Alembic migration.

MySQL and MariaDB commit every DDL statement on its own, so a revision cannot be rolled back
there: :func:`create_schema_objects` first refuses when any table it would create exists, and if
a statement fails halfway it drops the tables it created, so the database is left exactly at
the previous revision and a rerun starts clean.
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from alembic import op
from sqlalchemy.engine import Dialect

from lms_db.ddl import MYSQL_FAMILY, Target, schema_statements
from lms_db.dialects import run_statement
from lms_db.dialects.postgresql import TOUCH_FUNCTION
from lms_db.errors import MigrationFailed
from lms_db.models import analytics_metadata, metadata
from lms_db.models.popular import MATERIALIZED_VIEWS

log = logging.getLogger(__name__)


def _quote(dialect: Dialect, name: str) -> str:
    """``name``, quoted only where the dialect needs it (readable offline SQL)."""
    return str(dialect.identifier_preparer.quote(name))


def _metadata(target: Target) -> sa.MetaData:
    return metadata if target == "oltp" else analytics_metadata


def _schema_tables(target: Target, dialect_name: str) -> list[sa.Table]:
    """Tables the target creates as real tables on ``dialect_name``, in dependency order."""
    tables = _metadata(target).sorted_tables
    if dialect_name == "postgresql":
        # A native materialized view there, not a table.
        tables = [t for t in tables if not t.info.get("is_view")]
    return tables


def has_timescaledb(conn: sa.Connection) -> bool:
    """Whether the TimescaleDB extension is installed in the connected PostgreSQL database.

    :param conn: a PostgreSQL connection.
    """
    found = conn.execute(sa.text("SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'"))
    return found.first() is not None


def create_schema_objects(target: Target) -> None:
    """Create every table, index, trigger, view and policy of ``target`` (an initial revision).

    Offline (``lmsdb migrate sql``) the statements are emitted as text; TimescaleDB cannot be
    detected there, so analytics is rendered with native partitioning.

    :param target: ``oltp`` or ``analytics``.
    :raises MigrationFailed: a table the revision creates already exists (created by hand or
        by another tool); nothing was changed.
    """
    ctx = op.get_context()
    dialect_name = ctx.dialect.name
    if ctx.as_sql:
        for statement in schema_statements(dialect_name, target=target):
            op.execute(statement)
        return
    conn = op.get_bind()
    hypertable = target == "analytics" and dialect_name == "postgresql" and has_timescaledb(conn)
    statements = schema_statements(dialect_name, target=target, hypertable=hypertable)
    wanted = [t.name for t in _schema_tables(target, dialect_name)]
    existing = set(sa.inspect(conn).get_table_names()) & set(wanted)
    if existing:
        names = ", ".join(sorted(existing))
        raise MigrationFailed(
            f"table(s) {names} already exist but the database has no lmsdb revision: "
            "drop them (or move them away) and rerun; nothing was changed"
        )
    try:
        for statement in statements:
            run_statement(conn, statement)
    except sa.exc.DBAPIError:
        if dialect_name in MYSQL_FAMILY:
            _drop_created(conn, target, dialect_name)
        raise


def _drop_created(conn: sa.Connection, target: Target, dialect_name: str) -> None:
    """Undo a half-applied initial revision on MySQL/MariaDB (DDL there is not transactional)."""
    present = set(sa.inspect(conn).get_table_names())
    for table in reversed(_schema_tables(target, dialect_name)):
        if table.name in present:
            log.warning("initial revision failed: dropping %s, which it created", table.name)
            run_statement(conn, f"DROP TABLE IF EXISTS {_quote(conn.dialect, table.name)}")


def drop_schema_objects(target: Target) -> None:
    """Drop everything :func:`create_schema_objects` created (an initial revision's downgrade).

    :param target: ``oltp`` or ``analytics``.
    """
    dialect = op.get_context().dialect
    postgresql = dialect.name == "postgresql"
    if postgresql and target == "oltp":
        for view in MATERIALIZED_VIEWS.values():
            op.execute(f"DROP MATERIALIZED VIEW IF EXISTS {_quote(dialect, view.name)}")
    cascade = " CASCADE" if postgresql else ""
    for table in reversed(_schema_tables(target, dialect.name)):
        op.execute(f"DROP TABLE IF EXISTS {_quote(dialect, table.name)}{cascade}")
    if postgresql and target == "oltp":
        op.execute(f"DROP FUNCTION IF EXISTS {TOUCH_FUNCTION}()")
