"""Apply the rendered DDL to real MariaDB, PostgreSQL and SQLite and compare with the models."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine

from lms_db import analytics_metadata, metadata
from lms_db.schema.compare import compare_database
from lms_db.schema.ddl import create_schema


def test_oltp_schema_matches_models(any_engine: Engine) -> None:
    with any_engine.begin() as conn:
        create_schema(conn)
    with any_engine.connect() as conn:
        assert compare_database(conn, metadata) == []
        tables = set(sa.inspect(conn).get_table_names())
    expected = set(metadata.tables)
    if any_engine.dialect.name == "postgresql":
        expected.discard("popular_courses")  # a native materialized view there
    assert expected <= tables


@pytest.mark.parametrize("backend", ["postgresql", "sqlite"])
def test_analytics_schema_matches_models(backend: str, request: pytest.FixtureRequest) -> None:
    engine: Engine = request.getfixturevalue(f"{backend}_engine")
    with engine.begin() as conn:
        create_schema(conn, target="analytics")
    with engine.connect() as conn:
        assert compare_database(conn, analytics_metadata) == []


def test_drift_is_reported(any_engine: Engine) -> None:
    with any_engine.begin() as conn:
        create_schema(conn)
        conn.execute(sa.text("ALTER TABLE users ADD COLUMN hand_added INTEGER"))
        conn.execute(
            sa.text(
                "DROP INDEX idx_users_role"
                + (" ON users" if conn.dialect.name in ("mysql", "mariadb") else "")
            )
        )
    with any_engine.connect() as conn:
        diffs = compare_database(conn, metadata)
    assert "not in models: column users.hand_added" in diffs
    assert "missing from database: index users.idx_users_role" in diffs


def _insert_user(conn: sa.Connection, user_id: int = 1) -> None:
    conn.execute(
        sa.text(
            "INSERT INTO users (id, uuid, email, password_hash, first_name, last_name) "
            "VALUES (:id, :uuid, :email, 'x', 'Ada', 'Lovelace')"
        ),
        {
            "id": user_id,
            "uuid": f"00000000-0000-0000-0000-{user_id:012d}",
            "email": f"u{user_id}@example.com",
        },
    )


def test_defaults_apply(any_engine: Engine) -> None:
    with any_engine.begin() as conn:
        create_schema(conn)
        _insert_user(conn)
        row = conn.execute(
            sa.text("SELECT role, status, timezone, locale, login_count, created_at FROM users")
        ).one()
    assert (row.role, row.status, row.timezone, row.locale, row.login_count) == (
        "student",
        "pending",
        "UTC",
        "en",
        0,
    )
    assert row.created_at is not None


def test_updated_at_follows_updates(any_engine: Engine) -> None:
    """MySQL's ON UPDATE CURRENT_TIMESTAMP, and the triggers elsewhere, stamp updated_at."""
    with any_engine.begin() as conn:
        create_schema(conn)
        _insert_user(conn)
        conn.execute(sa.text("UPDATE users SET updated_at = '2020-01-01 00:00:00'"))
        before = conn.execute(sa.text("SELECT updated_at FROM users")).scalar_one()
        conn.execute(sa.text("UPDATE users SET first_name = 'Grace'"))
        after = conn.execute(sa.text("SELECT updated_at FROM users")).scalar_one()
    assert str(before).startswith("2020-01-01")
    assert not str(after).startswith("2020-01-01")


@pytest.mark.parametrize(
    "statement",
    [
        "INSERT INTO users (uuid, email, password_hash, first_name, last_name, role) "
        "VALUES ('u-2', 'b@example.com', 'x', 'A', 'B', 'wizard')",
        "INSERT INTO users (uuid, email, password_hash, first_name, last_name) "
        "VALUES ('u-3', 'u1@example.com', 'x', 'A', 'B')",
        "INSERT INTO course_reviews (course_id, user_id, enrollment_id, rating) "
        "VALUES (1, 1, 1, 6)",
        "INSERT INTO user_profiles (user_id) VALUES (999)",
    ],
    ids=["enum", "unique-email", "check-rating", "foreign-key"],
)
def test_invariants_are_enforced(any_engine: Engine, statement: str) -> None:
    with any_engine.begin() as conn:
        create_schema(conn)
        _insert_user(conn)
    with any_engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql("PRAGMA foreign_keys = ON")
        with pytest.raises(sa.exc.DBAPIError):
            conn.execute(sa.text(statement))
            conn.commit()


def test_mariadb_has_fulltext_and_on_update(mariadb_engine: Engine) -> None:
    with mariadb_engine.begin() as conn:
        create_schema(conn)
        kinds: dict[str, str] = dict(
            conn.execute(
                sa.text(
                    "SELECT INDEX_NAME, INDEX_TYPE FROM information_schema.STATISTICS "
                    "WHERE TABLE_SCHEMA = DATABASE() AND INDEX_TYPE = 'FULLTEXT'"
                )
            ).all()
        )
        extra = conn.execute(
            sa.text(
                "SELECT EXTRA FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() "
                "AND TABLE_NAME = 'users' AND COLUMN_NAME = 'updated_at'"
            )
        ).scalar_one()
    assert kinds == {
        "idx_users_fulltext_name": "FULLTEXT",
        "idx_courses_fulltext_search": "FULLTEXT",
    }
    assert "on update" in extra.lower()


def test_postgresql_row_level_security(make_postgresql_database: Callable[[], URL]) -> None:
    """A non-owner role sees only its own user row unless it acts as an admin."""
    engine = sa.create_engine(make_postgresql_database())
    with engine.begin() as conn:
        create_schema(conn)
        _insert_user(conn, 1)
        _insert_user(conn, 2)
        conn.execute(sa.text("DROP ROLE IF EXISTS lmsdb_rls_reader"))
        conn.execute(sa.text("CREATE ROLE lmsdb_rls_reader"))
        conn.execute(sa.text("GRANT SELECT ON users TO lmsdb_rls_reader"))
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("SET LOCAL ROLE lmsdb_rls_reader"))
            conn.execute(sa.text("SET LOCAL lmsdb.current_user_id = '2'"))
            own = conn.execute(sa.text("SELECT id FROM users")).scalars().all()
            conn.execute(sa.text("SET LOCAL lmsdb.current_user_role = 'admin'"))
            admin = conn.execute(sa.text("SELECT count(*) FROM users")).scalar_one()
        assert own == [2]
        assert admin == 2
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text("DROP OWNED BY lmsdb_rls_reader"))
            conn.execute(sa.text("DROP ROLE lmsdb_rls_reader"))
        engine.dispose()


def test_postgresql_analytics_is_partitioned(postgresql_engine: Engine) -> None:
    with postgresql_engine.begin() as conn:
        create_schema(conn, target="analytics")
        conn.execute(
            sa.text(
                "INSERT INTO user_events (time, user_id, event_type, ip_address) "
                "VALUES (now(), 1, 'page_view', '10.0.0.1')"
            )
        )
        strategy = conn.execute(
            sa.text(
                "SELECT partstrat FROM pg_partitioned_table p JOIN pg_class c "
                "ON c.oid = p.partrelid WHERE c.relname = 'user_events'"
            )
        ).scalar_one()
        in_default = conn.execute(sa.text("SELECT count(*) FROM user_events_default")).scalar()
    assert strategy == "r"
    assert in_default == 1
