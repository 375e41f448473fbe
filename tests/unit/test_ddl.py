"""DDL rendering per dialect, without a server: content, order and the committed sql/ files."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from lms_db import analytics_metadata, metadata
from lms_db.dialects import DIALECTS
from lms_db.errors import InputError, UnknownObjectError
from lms_db.models.base import KEYSPACES
from lms_db.schema.ddl import TARGETS, Target, render_schema, schema_statements, sql_file

REPO_ROOT = Path(__file__).resolve().parents[2]
SEED_TABLES = {
    "users",
    "user_profiles",
    "user_sessions",
    "user_oauth_providers",
    "courses",
    "course_categories",
    "course_modules",
    "module_lessons",
    "enrollments",
    "lesson_progress",
    "quizzes",
    "quiz_questions",
    "quiz_attempts",
    "payments",
    "coupons",
    "certificates",
    "course_reviews",
    "user_events",
    "audit_logs",
}


def _all_tables() -> dict[str, sa.Table]:
    return {**metadata.tables, **analytics_metadata.tables}


def test_every_seed_table_and_column_exists() -> None:
    tables = _all_tables()
    assert set(tables) >= SEED_TABLES
    assert sum(len(tables[name].columns) for name in SEED_TABLES) == 339
    assert {"enrollments_archive", "popular_courses"} <= set(tables)


def test_every_table_declares_a_keyspace_and_fks_stay_inside_it() -> None:
    for table in _all_tables().values():
        keyspace = table.info["keyspace"]
        assert keyspace in KEYSPACES
        for fk in table.foreign_keys:
            assert fk.column.table.info["keyspace"] == keyspace, fk


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("target", TARGETS)
def test_committed_sql_is_up_to_date(dialect: str, target: Target) -> None:
    path = sql_file(REPO_ROOT, dialect, target)
    if target == "analytics" and dialect in ("mysql", "mariadb"):
        assert not path.exists()
        return
    assert path.exists(), f"{path} missing: run `lmsdb schema sql --write`"
    assert path.read_text() == render_schema(dialect, target=target), (
        f"{path} is stale: run `lmsdb schema sql --write` and commit the result"
    )


@pytest.mark.parametrize(("dialect", "hash_seed"), [("mysql", "1"), ("postgresql", "2")])
def test_a_fresh_process_renders_the_committed_bytes(dialect: str, hash_seed: str) -> None:
    """Set/dict order, hash seeds or import order must not leak into the DDL: a new
    interpreter with another hash seed writes exactly the committed file."""
    code = (
        "import sys; from lms_db.schema.ddl import render_schema; "
        "sys.stdout.write(render_schema(sys.argv[1]))"
    )
    rendered = subprocess.run(
        [sys.executable, "-c", code, dialect],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONHASHSEED": hash_seed},
    ).stdout
    assert rendered == sql_file(REPO_ROOT, dialect, "oltp").read_text()


def test_tables_come_in_dependency_order() -> None:
    statements = schema_statements("mysql")
    created = [m.group(1) for s in statements if (m := re.match(r"CREATE TABLE (\w+)", s))]
    for table in metadata.sorted_tables:
        for fk in table.foreign_keys:
            if fk.column.table is not table:
                assert created.index(fk.column.table.name) < created.index(table.name)


def test_mysql_ddl_has_seed_features() -> None:
    ddl = render_schema("mysql")
    assert "updated_at TIMESTAMP NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP" in ddl
    assert "CREATE FULLTEXT INDEX idx_users_fulltext_name ON users" in ddl
    assert "ENUM('student','instructor','admin','super_admin') DEFAULT 'student'" in ddl
    assert "ENGINE=InnoDB CHARSET=utf8mb4 COLLATE utf8mb4_unicode_ci" in ddl
    assert "average_rating DESC" in ddl
    assert "PARTITION BY" not in ddl  # no seed scheme keeps its invariants on MySQL


def test_postgresql_ddl_has_view_policy_and_triggers() -> None:
    ddl = render_schema("postgresql")
    assert "CREATE MATERIALIZED VIEW popular_courses AS" in ddl
    assert "CREATE UNIQUE INDEX uq_popular_courses_id ON popular_courses (id)" in ddl
    assert "CREATE POLICY user_data_policy ON users FOR SELECT" in ddl
    assert "USING gin (to_tsvector('simple'" in ddl
    assert "CREATE TRIGGER trg_users_updated_at BEFORE UPDATE ON users" in ddl


def test_sqlite_ddl_leaves_out_fulltext() -> None:
    ddl = render_schema("sqlite")
    assert "FULLTEXT" not in ddl and "tsvector" not in ddl
    assert "CREATE TRIGGER trg_users_updated_at AFTER UPDATE ON users" in ddl


def test_analytics_partitioning_and_hypertable() -> None:
    native = render_schema("postgresql", target="analytics")
    assert ") PARTITION BY RANGE (time);" in native
    assert "PARTITION OF user_events DEFAULT" in native
    hyper = render_schema("postgresql", target="analytics", hypertable=True)
    assert "PARTITION BY" not in hyper
    assert "SELECT create_hypertable('user_events', 'time');" in hyper


def test_opt_in_seed_partition_on_mysql() -> None:
    ddl = render_schema("mysql", partitions=("users",))
    assert "ALTER TABLE users PARTITION BY RANGE (YEAR(created_at)) (" in ddl
    assert "PARTITION p_future VALUES LESS THAN MAXVALUE" in ddl


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"dialect_name": "oracle"}, UnknownObjectError),
        ({"dialect_name": "mysql", "partitions": ("nope",)}, UnknownObjectError),
        ({"dialect_name": "postgresql", "partitions": ("users",)}, InputError),
        ({"dialect_name": "mysql", "target": "olap"}, UnknownObjectError),
    ],
)
def test_bad_rendering_input(kwargs: dict[str, object], error: type[Exception]) -> None:
    with pytest.raises(error):
        schema_statements(**kwargs)  # type: ignore[arg-type]


def test_schema_reference_is_up_to_date() -> None:
    from lms_db.schema.reference import render_reference

    path = REPO_ROOT / "docs" / "schema.md"
    assert path.read_text() == render_reference(), "run `lmsdb schema docs --write`"


def test_enrollments_archive_mirrors_enrollments() -> None:
    live, archive = metadata.tables["enrollments"], metadata.tables["enrollments_archive"]
    assert [c.name for c in archive.columns] == [*(c.name for c in live.columns), "archived_at"]
    for column in live.columns:
        copy = archive.c[column.name]
        assert str(copy.type.compile()) == str(column.type.compile())
        assert copy.nullable == column.nullable
    assert not archive.foreign_keys
    assert archive.c.id.autoincrement is False
    assert not archive.c.updated_at.info.get("on_update_now")
