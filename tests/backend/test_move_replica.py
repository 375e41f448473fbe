"""A move onto a shard with a real replica (GTID primary + read-only replica, ``mariadbd``
processes the test starts): the switch happens once the replica holds the range, and the
replica ends with the range's rows byte for byte."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import URL

from lms_db.catalog import seed_from_topology
from lms_db.moves.engine import start_move
from lms_db.moves.plan import MoveRequest
from lms_db.router import Router
from lms_db.schema.ddl import create_schema
from lms_db.topology.spec import load_topology
from tests.backend.move_helpers import range_rows, seed_users, stamp_head
from tests.backend.router_helpers import url_text
from tests.backend.servers import MariaDBServer, binaries_available, wait_for_database
from tests.backend.test_migrate_replica import replicated  # noqa: F401 - fixture

pytestmark = [
    pytest.mark.mariadb,
    pytest.mark.skipif(not binaries_available(), reason="mariadbd is not installed"),
]


def test_move_onto_a_replicated_shard_waits_for_the_replica(
    replicated: tuple[MariaDBServer, MariaDBServer],  # noqa: F811
    make_mariadb_database: Callable[[], URL],
    tmp_path: Path,
) -> None:
    primary, replica = replicated
    name = f"lmsdb_mr_{uuid.uuid4().hex[:10]}"
    primary.execute(f"CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
    wait_for_database(replica, name)
    catalog, source = make_mariadb_database(), make_mariadb_database()
    dest = primary.url(name)
    for url in (source, dest):
        engine = sa.create_engine(url)
        with engine.begin() as conn:
            create_schema(conn)
        engine.dispose()
        stamp_head(url)
    path = tmp_path / "topology.toml"
    path.write_text(
        f'[catalog]\nurl = "{url_text(catalog)}"\n\n'
        f'[[shards]]\nname = "shard-1"\nprimary = "{url_text(source)}"\n'
        "ranges = { user = [0, 5000], course = [0, 300] }\n\n"
        f'[[shards]]\nname = "shard-2"\nprimary = "{url_text(dest)}"\n'
        f'replicas = ["{url_text(replica.url(name))}"]\nranges = {{ }}\n'
    )
    topology = load_topology(path)
    engine = sa.create_engine(topology.catalog.url)
    seed_from_topology(engine, topology)
    engine.dispose()
    seed_users(source, range(1000, 1040), "mariadb")
    before = range_rows(source, "user", 1000, 1030)
    try:
        with Router.from_topology(topology) as router:
            result = start_move(
                router,
                MoveRequest("user", 1000, 1030, "shard-2", max_replica_lag=5.0, chunk_size=16),
            )
        assert result.state == "done"
        # The switch waited for the replica: it already holds the range, byte for byte.
        assert range_rows(replica.url(name), "user", 1000, 1030) == before
        assert range_rows(dest, "user", 1000, 1030) == before
    finally:
        primary.execute(f"DROP DATABASE IF EXISTS {name}")
