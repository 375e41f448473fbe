"""A real replica: the tests start a GTID primary and a read-only replica (``mariadbd``)."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import URL

from tests.backend.fleet_helpers import (
    column_names,
    execute,
    lmsdb,
    lmsdb_json,
    results_by_shard,
    revision_of,
    table_names,
    write_topology,
)
from tests.backend.servers import (
    MariaDBServer,
    binaries_available,
    replicate,
    start_mariadbd,
    wait_for_database,
    wait_replicating,
)

pytestmark = [
    pytest.mark.mariadb,
    pytest.mark.skipif(not binaries_available(), reason="mariadbd is not installed"),
]


@pytest.fixture(scope="session")
def replicated(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[MariaDBServer, MariaDBServer]]:
    """A primary (binary log, ROW) and a read-only replica following it by GTID."""
    base = tmp_path_factory.mktemp("mariadb")
    primary = start_mariadbd(base, "primary", 1, primary=True)
    try:
        replica = start_mariadbd(base, "replica", 2, primary=False)
        try:
            replicate(replica, primary)
            yield primary, replica
        finally:
            replica.stop()
    finally:
        primary.stop()


@pytest.fixture
def replicated_shard(
    replicated: tuple[MariaDBServer, MariaDBServer],
    make_mariadb_database: Callable[[], URL],
    tmp_path: Path,
) -> Iterator[tuple[Path, URL, URL]]:
    """A one-shard topology: a fresh database on the primary, its replica copy, a catalog."""
    primary, replica = replicated
    name = f"lmsdb_r_{uuid.uuid4().hex[:10]}"
    primary.execute(f"CREATE DATABASE {name}")
    wait_for_database(replica, name)
    topology = write_topology(
        tmp_path, make_mariadb_database(), [primary.url(name)], replicas={0: [replica.url(name)]}
    )
    yield topology, primary.url(name), replica.url(name)
    primary.execute(f"DROP DATABASE IF EXISTS {name}")


def test_primary_migrated_replica_waited_for(replicated_shard: tuple[Path, URL, URL]) -> None:
    topology, primary, replica = replicated_shard
    run = lmsdb_json(topology, "migrate", "up", "--replica-timeout", "30")
    assert run["ok"], run
    shard = run["results"][0]
    assert (shard["from"], shard["to"], shard["result"]) == ("base", "0001", "migrated")
    assert [(r["revision"], r["status"]) for r in shard["replicas"]] == [("0001", "ok")]
    assert shard["replicas"][0]["lag_seconds"] is not None
    assert revision_of(replica) == "0001" and "users" in table_names(replica)
    status = lmsdb_json(topology, "migrate", "status")
    assert status["at_head"]
    replica_status = status["shards"][0]["replicas"][0]
    assert replica_status["revision"] == "0001" and replica_status["lag_seconds"] == 0
    # Drift on the primary replicates: both are named.
    execute(primary, "ALTER TABLE users ADD COLUMN hand_added INT")
    deadline = time.monotonic() + 30
    while "hand_added" not in column_names(replica, "users"):
        assert time.monotonic() < deadline, "the ALTER never reached the replica"
        time.sleep(0.05)
    report = lmsdb_json(topology, "schema", "check")
    drifted = {d["name"]: d["diffs"] for d in report["databases"] if d["drift"]}
    assert drifted == {
        name: ["not in models: column users.hand_added"]
        for name in ("shard-0 primary", "shard-0 replica 0")
    }


def test_stopped_replica_times_out_clearly(
    replicated: tuple[MariaDBServer, MariaDBServer],
    replicated_shard: tuple[Path, URL, URL],
) -> None:
    _primary_server, replica_server = replicated
    topology, primary, _replica = replicated_shard
    replica_server.execute("STOP SLAVE")
    try:
        result = lmsdb(topology, "migrate", "up", "--replica-timeout", "1")
        run = lmsdb_json(topology, "migrate", "up", "--replica-timeout", "1")
        # #9: migrate status said "behind" for a stopped replica.
        status = lmsdb(topology, "migrate", "status", "--json")
    finally:
        replica_server.execute("START SLAVE")
        wait_replicating(replica_server)
    assert result.exit_code == 1
    assert "shard-0 (replica-timeout)" in result.output
    assert results_by_shard(run)["shard-0"] == ("0001", "0001", "replica-timeout")
    state = run["results"][0]["replicas"][0]
    assert state["status"] == "timeout" and state["revision"] == "base"
    assert "still at base after 1s, expected 0001" in state["error"]
    assert "replication stopped" in state["error"]
    assert status.exit_code == 1 and "replication is stopped on shard-0 replica" in status.stderr
    [stopped] = json.loads(status.stdout)["shards"][0]["replicas"]
    assert stopped["status"] == "stopped" and "replication stopped" in stopped["error"]
    assert revision_of(primary) == "0001"
    assert lmsdb(topology, "migrate", "up", "--replica-timeout", "30").exit_code == 0


def test_a_writable_replica_is_refused_before_anything(
    make_mariadb_database: Callable[[], URL], tmp_path: Path
) -> None:
    """A "replica" that replicates from nothing and accepts writes is a topology mistake."""
    catalog, primary, not_a_replica = (make_mariadb_database() for _ in range(3))
    topology = write_topology(tmp_path, catalog, [primary], replicas={0: [not_a_replica]})
    result = lmsdb(topology, "migrate", "up")
    assert result.exit_code == 2
    assert "is writable and replicates from no primary" in result.output
    assert table_names(catalog) == set() and table_names(primary) == set()
