"""Fleets and data for the range-move tests.

A move fleet has three shards: ``shard-0`` owns users [0, 1000), ``shard-1`` users
[1000, 5000), ``shard-2`` owns nothing (a new shard, the usual destination).  On MariaDB
shard-2 lives on a second ``mariadbd``, so moves cross servers.  Every shard is stamped at
the Alembic head (``plan_move`` refuses a destination that is not).

The seeded rows carry the data that breaks naive copies: 4-byte utf8mb4, JSON with odd
spacing and key order, DECIMAL extremes, NULLs, TIMESTAMPs around a DST change, and
BIGINT UNSIGNED values near the top of the type.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import URL

from lms_db.migrate.scripts import head_revision, script_directory
from lms_db.models import metadata
from lms_db.moves.rows import read_chunk, utc_session
from lms_db.moves.scope import insert_order
from tests.backend.router_helpers import Fleet, build_fleet, sqlite_maker

MOVE_RANGES = (
    {"user": (0, 1000), "course": (0, 100)},
    {"user": (1000, 5000), "course": (100, 300)},
)
UTC = dt.UTC


def stamp_head(url: URL) -> None:
    """Record the Alembic head in a shard built by ``create_schema``."""
    head = head_revision(script_directory("oltp"))
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "CREATE TABLE IF NOT EXISTS alembic_version "
            "(version_num VARCHAR(32) NOT NULL PRIMARY KEY)"
        )
        conn.exec_driver_sql("DELETE FROM alembic_version")
        conn.execute(sa.text("INSERT INTO alembic_version VALUES (:v)"), {"v": head})
    engine.dispose()


def move_fleet(request: pytest.FixtureRequest, tmp_path: Path, backend: str) -> Fleet:
    """The three-shard move fleet on ``backend`` (see the module docstring)."""
    if backend == "mariadb":
        make = request.getfixturevalue("make_mariadb_database")
        second = request.getfixturevalue("make_second_database")
        fleet = build_fleet(
            tmp_path, backend, make, ranges=MOVE_RANGES, shard_urls=[make(), make(), second()]
        )
    elif backend == "postgresql":
        fleet = build_fleet(
            tmp_path,
            backend,
            request.getfixturevalue("make_postgresql_database"),
            ranges=MOVE_RANGES,
        )
    else:
        fleet = build_fleet(tmp_path, backend, sqlite_maker(tmp_path), ranges=MOVE_RANGES)
    for url in fleet.shard_urls:
        stamp_head(url)
    return fleet


def same_server_fleet(
    request: pytest.FixtureRequest, tmp_path: Path, dest: URL | None = None
) -> Fleet:
    """The move fleet with all three shards on the :3306 MariaDB (``dest``: shard-2's URL,
    e.g. another user's, instead of a new database)."""
    make = request.getfixturevalue("make_mariadb_database")
    urls = [make(), make(), dest if dest is not None else make()]
    fleet = build_fleet(tmp_path, "mariadb", make, ranges=MOVE_RANGES, shard_urls=urls)
    for url in fleet.shard_urls:
        stamp_head(url)
    return fleet


def big_unsigned(backend: str) -> int:
    """A value near the top of ``BIGINT UNSIGNED`` (signed BIGINT's top elsewhere)."""
    return 2**64 - 2 if backend == "mariadb" else 2**63 - 2


def user_rows(user_id: int, backend: str) -> list[tuple[str, dict[str, Any]]]:
    """``(table, row)`` for one user and the rows that go with them, parents first."""
    t0 = dt.datetime(2026, 3, 29, 0, 59, 59, tzinfo=UTC)  # an hour before EU DST starts
    big = big_unsigned(backend)
    u = user_id
    emoji = "Zoë 😀🚀 ✓" if u % 2 else None
    enrollment = u * 10 + 1
    return [
        (
            "users",
            {
                "id": u,
                "uuid": f"{u:08d}-0000-4000-8000-000000000000",
                "email": f"u{u}@example.com",
                "password_hash": "x" * 60,
                "first_name": emoji or f"F{u}",
                "last_name": "Ng 𝄞" if u % 3 else "L",
                "last_login_at": t0 + dt.timedelta(seconds=u % 7200) if u % 5 else None,
            },
        ),
        ("user_profiles", {"user_id": u, "organization": "🙂 org" if u % 4 else None}),
        (
            "user_sessions",
            {
                "id": u * 10 + 2,
                "user_id": u,
                "expires_at": t0 + dt.timedelta(hours=1, seconds=u % 60),
            },
        ),
        (
            "user_oauth_providers",
            {
                "id": u * 10 + 3,
                "user_id": u,
                "provider": "github",
                "provider_user_id": f"gh{u}",
                "provider_data": '{"b": 1,  "a": [1.50, "😀"], "n": null}',
            },
        ),
        (
            "enrollments",
            {
                "id": enrollment,
                "user_id": u,
                "course_id": big - u,
                "progress_percentage": Decimal("99.99") if u % 2 else Decimal("0.00"),
            },
        ),
        (
            "payments",
            {
                "id": u * 10 + 4,
                "user_id": u,
                "course_id": u,
                "amount": Decimal("99999999.99") if u % 2 else Decimal("0.01"),
                "payment_gateway": "stripe",
                "payment_method": "card",
                "payment_metadata": None if u % 3 else '{"k":"v", "x": 1e3}',
            },
        ),
        (
            "lesson_progress",
            {"id": u * 10 + 5, "user_id": u, "lesson_id": big - 1, "enrollment_id": enrollment},
        ),
        (
            "quiz_attempts",
            {
                "id": u * 10 + 6,
                "quiz_id": 7,
                "user_id": u,
                "enrollment_id": enrollment,
                "attempt_number": 4294967295,
                "answers": '{"q1": ["a", "b"], "q2": {"z": 0.1, "a": -0}}',
            },
        ),
        (
            "audit_logs",
            {"id": u * 10 + 7, "user_id": u, "action": "login", "new_values": '[1, 2, {"é": "ü"}]'},
        ),
    ]


def seed_users(url: URL, user_ids: Iterable[int], backend: str) -> None:
    """Insert the rows of :func:`user_rows` for every user, parents first."""
    engine = sa.create_engine(url)
    by_table: dict[str, list[dict[str, Any]]] = {}
    for u in user_ids:
        for table, row in user_rows(u, backend):
            by_table.setdefault(table, []).append(row)
    with engine.begin() as conn:
        utc_session(conn)
        for scope in insert_order("user"):
            rows = by_table.get(scope.name)
            if rows:
                insert_raw(conn, scope.name, rows)
    engine.dispose()


def insert_raw(conn: sa.Connection, table_name: str, rows: list[dict[str, Any]]) -> None:
    """Insert rows with the model's types, JSON given as text (stored as written)."""
    table = metadata.tables[table_name]
    columns = []
    for c in table.columns:
        kind: Any = sa.Text() if "JSON" in repr(c.type) else c.type
        columns.append(sa.Column(c.name, kind, primary_key=c.primary_key))
    typed = sa.Table(table_name, sa.MetaData(), *columns)
    if conn.dialect.name == "postgresql":
        json = [c.name for c in table.columns if "JSON" in repr(c.type)]
        stmt = typed.insert().values(
            {
                c.name: sa.cast(sa.bindparam(c.name, type_=c.type), table.c[c.name].type)
                if c.name in json
                else sa.bindparam(c.name, type_=c.type)
                for c in typed.columns
            }
        )
        full = [{c.name: r.get(c.name) for c in typed.columns} for r in rows]
        conn.execute(stmt, full)
        return
    conn.execute(typed.insert(), rows)


def range_rows(url: URL, keyspace: str, lo: int, hi: int) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the range per table, by primary key, JSON as stored text (a full-row
    comparison done in Python, for tests)."""
    engine = sa.create_engine(url)
    out: dict[str, list[tuple[Any, ...]]] = {}
    try:
        with engine.connect() as conn:
            utc_session(conn)
            for scope in insert_order(keyspace):
                # The whole range in one read (test ranges are small), by primary key.
                chunk = sorted(
                    read_chunk(conn, scope, lo, hi, None, None), key=lambda r: r[scope.pk.name]
                )
                out[scope.name] = [tuple(_canonical(v) for v in r.values()) for r in chunk]
    finally:
        engine.dispose()
    return out


def _canonical(value: Any) -> Any:
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)
    return value


def count_rows(url: URL, keyspace: str, lo: int, hi: int) -> int:
    """Rows of the range, all tables."""
    return sum(len(v) for v in range_rows(url, keyspace, lo, hi).values())
