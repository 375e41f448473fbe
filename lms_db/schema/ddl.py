"""The full schema as ordered DDL statements for one dialect: the source of ``sql/``.

One definition (``lms_db.metadata`` / ``lms_db.analytics_metadata``) renders to every
dialect.  The order is deterministic (tables in dependency order, indexes by name) so the
committed ``sql/<dialect>/*.sql`` files only change when the models do.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Literal

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.schema import CreateIndex, CreateTable

from lms_db.dialects import DIALECTS, get_dialect, run_statement
from lms_db.dialects import mysql as mysql_ddl
from lms_db.dialects import postgresql as pg_ddl
from lms_db.dialects import sqlite as sqlite_ddl
from lms_db.dialects.facts import is_mysql_family, quote, renders_on
from lms_db.errors import InputError, UnknownObjectError
from lms_db.models import analytics_metadata, metadata
from lms_db.models.partitions import PartitionSpec
from lms_db.models.popular import MATERIALIZED_VIEWS, MaterializedView

log = logging.getLogger(__name__)

Target = Literal["oltp", "analytics"]
TARGETS: tuple[Target, ...] = ("oltp", "analytics")


def _table_statements(
    table: sa.Table, dialect: Dialect, *, partitions: Iterable[str], hypertable: bool
) -> list[str]:
    name = dialect.name
    out = [
        str(
            CreateTable(table).compile(dialect=dialect, compile_kwargs={"hypertable": hypertable})
        ).strip()
    ]
    spec: PartitionSpec | None = table.info.get("partition")
    if is_mysql_family(name) and spec is not None and (spec.applied or table.name in partitions):
        out.append(mysql_ddl.alter_partition(table.name, spec))
    for index in sorted(table.indexes, key=lambda i: i.name or ""):
        if renders_on(index, name):
            out.append(str(CreateIndex(index).compile(dialect=dialect)).strip())
    touched = any(c.info.get("on_update_now") for c in table.columns)
    if touched and name == "postgresql":
        out.append(pg_ddl.touch_trigger(table))
    elif touched and name == "sqlite":
        out.append(sqlite_ddl.touch_trigger(table))
    if name == "postgresql" and spec is not None and spec.applied:
        if hypertable:
            out.append(f"SELECT create_hypertable('{table.name}', '{spec.expression}')")
        else:
            out.append(pg_ddl.default_partition(table))
    if name == "postgresql" and table.info.get("row_level_security"):
        out.extend(pg_ddl.row_level_security(table))
    return out


def _view_statements(view: MaterializedView, dialect: Dialect) -> list[str]:
    """PostgreSQL: a native materialized view and its unique index."""
    query = view.query.compile(dialect=dialect, compile_kwargs={"literal_binds": True})
    key = ", ".join(quote(dialect, c) for c in view.unique_key)
    unique = f"uq_{view.name}_{'_'.join(view.unique_key)}"
    out = [
        f"CREATE MATERIALIZED VIEW {quote(dialect, view.name)} AS\n{query}",
        f"CREATE UNIQUE INDEX {quote(dialect, unique)} ON {quote(dialect, view.name)} ({key})",
    ]
    for index in sorted(view.table.indexes, key=lambda i: i.name or ""):
        out.append(str(CreateIndex(index).compile(dialect=dialect)).strip())
    return out


def schema_statements(
    dialect_name: str,
    *,
    target: Target = "oltp",
    partitions: Sequence[str] = (),
    hypertable: bool = False,
) -> list[str]:
    """Every DDL statement of the schema, in the order to run them.

    :param dialect_name: ``mysql``, ``mariadb``, ``postgresql`` or ``sqlite``.
    :param target: ``oltp`` (the sharded schema) or ``analytics`` (``user_events``).
    :param partitions: tables whose declared-only partition spec to apply as well
        (MySQL/MariaDB; ``lmsdb schema lint`` says what each one breaks).
    :param hypertable: analytics on TimescaleDB: a hypertable instead of native partitions.
    :raises UnknownObjectError: unknown dialect, target or table.
    """
    dialect = get_dialect(dialect_name)
    if target not in TARGETS:
        raise UnknownObjectError(f"unknown target {target!r}: choose oltp or analytics")
    md = metadata if target == "oltp" else analytics_metadata
    unknown = sorted(
        set(partitions)
        - {t.name for t in md.tables.values() if t.info.get("partition") is not None}
    )
    if unknown:
        raise UnknownObjectError(f"no partition spec for table(s): {', '.join(unknown)}")
    if partitions and not is_mysql_family(dialect_name):
        raise InputError("--partition applies the seed's MySQL schemes: use mysql or mariadb")
    tables = md.sorted_tables
    out: list[str] = []
    if dialect_name == "postgresql" and any(
        c.info.get("on_update_now") for t in tables for c in t.columns
    ):
        out.append(pg_ddl.touch_function())
    for table in tables:
        if table.info.get("is_view") and dialect_name == "postgresql":
            continue  # created as a native materialized view below
        out.extend(_table_statements(table, dialect, partitions=partitions, hypertable=hypertable))
    if dialect_name == "postgresql" and target == "oltp":
        for view in MATERIALIZED_VIEWS.values():
            out.extend(_view_statements(view, dialect))
    return out


def render_schema(dialect_name: str, *, target: Target = "oltp", **kwargs: object) -> str:
    """The schema as one SQL script (what ``lmsdb schema sql`` prints)."""
    statements = schema_statements(dialect_name, target=target, **kwargs)  # type: ignore[arg-type]
    header = (
        f"-- lmsdb {target} schema for {dialect_name}.\n"
        "-- Generated by `lmsdb schema sql --write`: do not edit by hand.\n"
    )
    # PL/pgSQL bodies hold semicolons, so statements end with ';' on a line of their own
    # only where needed: every statement here ends at its last character.
    return header + "\n" + "\n\n".join(s + ";" for s in statements) + "\n"


def sql_file(root: Path, dialect_name: str, target: Target) -> Path:
    """Where the committed DDL of ``dialect_name``/``target`` lives under ``root``."""
    name = "schema.sql" if target == "oltp" else "analytics.sql"
    return root / "sql" / dialect_name / name


def write_sql_files(root: Path) -> list[Path]:
    """Regenerate every committed DDL file under ``root/sql``; returns the paths written."""
    written = []
    for dialect_name in DIALECTS:
        for target in TARGETS:
            if target == "analytics" and is_mysql_family(dialect_name):
                continue  # analytics lives on PostgreSQL (and SQLite for the embedded demo)
            path = sql_file(root, dialect_name, target)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(render_schema(dialect_name, target=target))
            written.append(path)
    return written


def create_schema(connection: Connection, *, target: Target = "oltp") -> None:
    """Run the schema's DDL on ``connection`` (an empty database)."""
    for statement in schema_statements(connection.dialect.name, target=target):
        log.debug("ddl: %s", statement.splitlines()[0])
        run_statement(connection, statement)
