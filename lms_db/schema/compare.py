"""Compare a live database with the models: Alembic's autogenerate plus what it misses.

Used by the schema round-trip tests, by ``lmsdb schema check`` (drift) and by the
migration environment.  Alembic compares tables, columns, types, nullability, defaults,
indexes and constraints; lmsdb adds the index kinds (FULLTEXT), the ``ON UPDATE`` clauses
and triggers, partitioning, materialized views and row-level security.
"""

from __future__ import annotations

import contextlib
import re
import warnings
from typing import Any

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import Connection

from lms_db.dialects.facts import renders_on, touch_trigger_name
from lms_db.dialects.postgresql import USER_POLICY

#: Tables lmsdb itself keeps in a shard database beside the schema (the identity row of
#: :mod:`lms_db.catalog.identity`); never drift.
LMSDB_OWN_TABLES = ("lmsdb_identity",)

_BOOL_WORDS = {"1": "true", "0": "false", "true": "true", "false": "false"}


def include_object_for(dialect_name: str) -> Any:
    """Alembic ``include_object`` hook: skip what lmsdb renders outside Alembic's reach.

    Indexes that do not render on this dialect (``Index.ddl_if``), PostgreSQL expression
    (tsvector) indexes, and materialized views on PostgreSQL are left to :func:`extra_diffs`.
    """

    def include_object(
        obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
    ) -> bool:
        if type_ == "table" and reflected and name in LMSDB_OWN_TABLES:
            return False  # lmsdb's bookkeeping, not part of the schema
        if type_ == "table" and not reflected and obj.info.get("is_view"):
            return dialect_name != "postgresql"
        if (
            type_ == "table"
            and reflected
            and compare_to is None
            and name
            and (name in ("lmsdb_move_changes", "lmsdb_fences"))
        ):
            return False  # a range move's changelog and fence records (docs/moves.md)
        if (
            type_ == "table"
            and reflected
            and dialect_name == "postgresql"
            and name
            and (name.endswith("_default"))
        ):
            return False  # a DEFAULT partition of a partitioned table
        if type_ == "index" and not reflected:
            if not renders_on(obj, dialect_name):
                return False
            if obj.info.get("fulltext") and dialect_name == "postgresql":
                return False  # expression index: checked by extra_diffs
        # lmsdb's own PostgreSQL extras, checked by extra_diffs.
        return not (
            type_ == "index"
            and reflected
            and compare_to is None
            and name
            and (name.endswith("_tsv") or name.startswith("uq_popular_courses"))
        )

    return include_object


def _normalize_default(text: str | None) -> str | None:
    if text is None:
        return None
    value = text.strip().strip("()").lower()
    value = re.sub(r"::[a-z ]+(\(\d+\))?$", "", value)  # PostgreSQL casts
    value = value.strip("'\"")
    value = value.replace("current_timestamp()", "current_timestamp")
    value = value.replace(" on update current_timestamp", "")
    if value in ("now()",):
        value = "current_timestamp"
    value = _BOOL_WORDS.get(value, value)
    with contextlib.suppress(ValueError):
        value = str(float(value))
    return value


def compare_server_default(
    context: Any,
    inspected_column: Any,
    metadata_column: Any,
    inspected_default: str | None,
    metadata_default: Any,
    rendered_metadata_default: str | None,
) -> bool | None:
    """True when the defaults differ, after normalizing dialect spellings.

    ``1``/``true``, ``current_timestamp()``/``CURRENT_TIMESTAMP``, quoting and PostgreSQL
    casts mean the same thing; MariaDB's ``ON UPDATE`` part is checked by :func:`extra_diffs`.
    """
    return _normalize_default(inspected_default) != _normalize_default(rendered_metadata_default)


def alembic_diffs(conn: Connection, metadata: sa.MetaData) -> list[Any]:
    """Alembic's autogenerate comparison of ``conn`` against ``metadata``."""
    ctx = MigrationContext.configure(
        conn,
        opts={
            "compare_type": True,
            "compare_server_default": compare_server_default,
            "include_object": include_object_for(conn.dialect.name),
        },
    )
    with warnings.catch_warnings():
        # lmsdb's tsvector twins are expression indexes Alembic cannot reflect everywhere;
        # extra_diffs checks them itself.
        warnings.filterwarnings("ignore", message=r".*expression-based index '\w+_tsv'")
        return list(compare_metadata(ctx, metadata))


def describe_diff(diff: Any) -> str:
    """One readable line for an Alembic diff tuple (or a list of column diffs)."""
    if isinstance(diff, list):
        return "; ".join(describe_diff(d) for d in diff)
    kind = diff[0]
    # Alembic speaks of what a migration would do: "add" = missing from the database.
    where = "missing from database" if kind.startswith("add_") else "not in models"
    what = kind.split("_", 1)[1]
    if kind in ("add_table", "remove_table"):
        return f"{where}: table {diff[1].name}"
    if kind in ("add_column", "remove_column"):
        return f"{where}: column {diff[2]}.{diff[3].name}"
    if kind in ("add_index", "remove_index", "add_constraint", "remove_constraint"):
        obj = diff[1]
        table = obj.table.name if obj.table is not None else "?"
        return f"{where}: {what} {table}.{obj.name}"
    if kind in ("add_fk", "remove_fk"):
        return f"{where}: foreign key {diff[1].parent.name}.{diff[1].name}"
    if kind.startswith("modify_"):
        live, model = _show(diff[5]), _show(diff[6])
        return f"{what} differs: {diff[2]}.{diff[3]}: database {live}, models {model}"
    return repr(diff)


def _show(value: Any) -> str:
    arg = getattr(value, "arg", value)
    return str(getattr(arg, "text", arg))


def _expected_fulltext(metadata: sa.MetaData, dialect_name: str) -> set[tuple[str, str]]:
    return {
        (t.name, i.name or "")
        for t in metadata.tables.values()
        for i in t.indexes
        if i.info.get("fulltext") and renders_on(i, dialect_name)
    }


def _on_update_columns(metadata: sa.MetaData) -> set[tuple[str, str]]:
    return {
        (t.name, c.name)
        for t in metadata.tables.values()
        for c in t.columns
        if c.info.get("on_update_now")
    }


def _partitioned(metadata: sa.MetaData) -> set[str]:
    return {
        t.name
        for t in metadata.tables.values()
        if t.info.get("partition") is not None and t.info["partition"].applied
    }


def _query(conn: Connection) -> Any:
    return lambda sql: conn.execute(sa.text(sql))


def _mysql_extra(conn: Connection, metadata: sa.MetaData) -> list[str]:
    out = []
    q = _query(conn)
    fulltext = {
        tuple(r)
        for r in q(
            "SELECT DISTINCT TABLE_NAME, INDEX_NAME FROM information_schema.STATISTICS "
            "WHERE TABLE_SCHEMA = DATABASE() AND INDEX_TYPE = 'FULLTEXT'"
        )
    }
    for table, index in sorted(_expected_fulltext(metadata, conn.dialect.name) - fulltext):
        out.append(f"missing from database: FULLTEXT index {table}.{index}")
    for table, index in sorted(fulltext - _expected_fulltext(metadata, conn.dialect.name)):
        out.append(f"not in models: FULLTEXT index {table}.{index}")
    on_update = {
        tuple(r)
        for r in q(
            "SELECT TABLE_NAME, COLUMN_NAME FROM information_schema.COLUMNS "
            "WHERE TABLE_SCHEMA = DATABASE() AND LOWER(EXTRA) LIKE '%on update%'"
        )
    }
    known = set(metadata.tables)
    for table, column in sorted(_on_update_columns(metadata) - on_update):
        out.append(f"missing from database: ON UPDATE CURRENT_TIMESTAMP on {table}.{column}")
    for table, column in sorted(on_update - _on_update_columns(metadata)):
        if table in known:
            out.append(f"not in models: ON UPDATE CURRENT_TIMESTAMP on {table}.{column}")
    partitioned = {
        r[0]
        for r in q(
            "SELECT DISTINCT TABLE_NAME FROM information_schema.PARTITIONS "
            "WHERE TABLE_SCHEMA = DATABASE() AND PARTITION_NAME IS NOT NULL"
        )
    }
    out += [
        f"missing from database: partitioning of {t}"
        for t in sorted(_partitioned(metadata) - partitioned)
    ]
    out += [
        f"not in models: partitioning of {t}"
        for t in sorted(partitioned - _partitioned(metadata))
        if t in known
    ]
    return out


def _postgresql_extra(conn: Connection, metadata: sa.MetaData) -> list[str]:
    out = []
    q = _query(conn)
    indexes = {
        tuple(r)
        for r in q(
            "SELECT tablename, indexname FROM pg_indexes WHERE schemaname = current_schema()"
        )
    }
    for table in metadata.tables.values():
        for index in table.indexes:
            if (
                index.info.get("fulltext")
                and renders_on(index, "postgresql")
                and ((table.name, index.name) not in indexes)
            ):
                out.append(f"missing from database: GIN index {table.name}.{index.name}")
    triggers = {
        tuple(r)
        for r in q(
            "SELECT c.relname, t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
            "WHERE NOT t.tgisinternal"
        )
    }
    for name in sorted({t for t, _c in _on_update_columns(metadata)}):
        if (name, touch_trigger_name(name)) not in triggers:
            out.append(f"missing from database: trigger {touch_trigger_name(name)} on {name}")
    partitioned = {
        r[0]
        for r in q(
            "SELECT c.relname FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid"
        )
    }
    out += [
        f"missing from database: partitioning of {t}"
        for t in sorted(_partitioned(metadata) - partitioned)
    ]
    for table in sorted(metadata.tables.values(), key=lambda t: t.name):
        if not table.info.get("row_level_security"):
            continue
        name = table.name  # a model's table name (trusted), as the DDL wrote it
        policies = {
            r[0] for r in q(f"SELECT policyname FROM pg_policies WHERE tablename = '{name}'")
        }
        rls = q(f"SELECT relrowsecurity FROM pg_class WHERE relname = '{name}'").scalar()
        if USER_POLICY not in policies or not rls:
            out.append(f"missing from database: row-level security {USER_POLICY} on {name}")
    views = {r[0] for r in q("SELECT matviewname FROM pg_matviews")}
    for table in metadata.tables.values():
        if table.info.get("is_view") and table.name not in views:
            out.append(f"missing from database: materialized view {table.name}")
    return out


def _sqlite_extra(conn: Connection, metadata: sa.MetaData) -> list[str]:
    triggers = {r[0] for r in _query(conn)("SELECT name FROM sqlite_master WHERE type = 'trigger'")}
    return [
        f"missing from database: trigger {touch_trigger_name(name)} on {name}"
        for name in sorted({t for t, _c in _on_update_columns(metadata)})
        if touch_trigger_name(name) not in triggers
    ]


_EXTRA = {
    "mysql": _mysql_extra,
    "mariadb": _mysql_extra,
    "postgresql": _postgresql_extra,
    "sqlite": _sqlite_extra,
}


def extra_diffs(conn: Connection, metadata: sa.MetaData) -> list[str]:
    """What autogenerate does not compare: index kinds, ON UPDATE, triggers, partitions,
    row-level security and materialized views."""
    return _EXTRA[conn.dialect.name](conn, metadata)


def compare_database(conn: Connection, metadata: sa.MetaData) -> list[str]:
    """Every difference between the database on ``conn`` and ``metadata``, one line each.

    :param conn: a connection to the live database.
    :param metadata: ``lms_db.metadata`` or ``lms_db.analytics_metadata``.
    """
    return [describe_diff(d) for d in alembic_diffs(conn, metadata)] + extra_diffs(conn, metadata)
