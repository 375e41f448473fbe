"""The same-server copy path (two databases of one MariaDB): proved, not guessed; byte for
byte; refused (the client path instead) for two servers or without read rights."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import URL

from lms_db.moves.engine import start_move
from lms_db.moves.plan import MoveRequest, plan_move
from lms_db.moves.same_server import probe
from lms_db.moves.scope import insert_order
from lms_db.router import Router
from tests.backend.move_helpers import move_fleet, range_rows, same_server_fleet, seed_users
from tests.backend.router_helpers import (  # noqa: F401 - fixtures
    fixture_make_second_database,
    fixture_second_mariadb,
)


def _probe(a: URL, b: URL) -> bool:
    engines = [sa.create_engine(a), sa.create_engine(b)]
    try:
        with engines[0].connect() as src, engines[1].connect() as dst:
            return probe(src, dst, insert_order("user")) is not None
    finally:
        for engine in engines:
            engine.dispose()


def test_probe_is_true_on_one_server_and_false_across_two(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    same = same_server_fleet(request, tmp_path)
    assert _probe(same.shard_urls[1], same.shard_urls[2])
    two = move_fleet(request, tmp_path, "mariadb")  # shard-2 on a second mariadbd
    assert not _probe(two.shard_urls[1], two.shard_urls[2])
    assert not _probe(two.shard_urls[2], two.shard_urls[1])


def test_same_server_move_copies_every_row_byte_for_byte(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    fleet = same_server_fleet(request, tmp_path)
    _, source, dest = fleet.shard_urls
    seed_users(source, range(1000, 1060), "mariadb")
    moved = range_rows(source, "user", 1020, 1050)
    kept = range_rows(source, "user", 1000, 1020)
    with Router.from_topology(fleet.topology) as router:
        req = MoveRequest("user", 1020, 1050, "shard-2", chunk_size=7)
        assert plan_move(router, req).to_dict()["copy_path"] == "same-server"
        result = start_move(router, req)
    assert result.state == "done" and result.copy_path == "same-server"
    assert result.rows_copied == sum(map(len, moved.values()))
    # emoji, JSON text, DECIMAL, NULL, TIMESTAMP, FLOAT, BIGINT UNSIGNED max: unchanged.
    assert range_rows(dest, "user", 1020, 1050) == moved
    assert sum(map(len, range_rows(source, "user", 1020, 1050).values())) == 0
    assert range_rows(source, "user", 1000, 1020) == kept


@pytest.fixture(name="restricted_dest")
def fixture_restricted_dest(
    make_mariadb_database: object, mariadb_server_url: URL
) -> Iterator[URL]:
    """A new database on :3306 reached as a user with rights on that database only."""
    make = make_mariadb_database
    assert callable(make)
    url: URL = make()
    user = f"lmsdb_r{secrets.token_hex(4)}"  # no password: topology files refuse literal ones
    admin = sa.create_engine(mariadb_server_url)
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE USER '{user}'@'%%'")
        conn.exec_driver_sql(f"GRANT ALL PRIVILEGES ON `{url.database}`.* TO '{user}'@'%%'")
    try:
        yield url.set(username=user, password=None)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP USER IF EXISTS '{user}'@'%%'")
        admin.dispose()


def test_no_read_right_on_the_source_falls_back_to_the_client_path(
    request: pytest.FixtureRequest, tmp_path: Path, restricted_dest: URL
) -> None:
    fleet = same_server_fleet(request, tmp_path, dest=restricted_dest)
    _, source, dest = fleet.shard_urls
    seed_users(source, range(1000, 1030), "mariadb")
    moved = range_rows(source, "user", 1000, 1030)
    assert not _probe(source, dest)
    with Router.from_topology(fleet.topology) as router:
        req = MoveRequest("user", 1000, 1030, "shard-2", chunk_size=5)
        assert plan_move(router, req).copy_path == "client"
        result = start_move(router, req)
    assert result.state == "done" and result.copy_path == "client"
    assert range_rows(dest, "user", 1000, 1030) == moved
