"""``archive run --max-replica-lag`` against a real replica (``mariadbd`` processes the test
starts): while the replica cannot say its lag the run waits, and once it replicates again
the run goes on and finishes."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy.engine import URL

from tests.backend.archive_helpers import TWO_SHARDS, cli_env, ids_in, run_cli, seed_learning
from tests.backend.router_helpers import build_fleet, url_text
from tests.backend.s3_helpers import S3Endpoint, fixture_bucket, fixture_s3  # noqa: F401
from tests.backend.servers import MariaDBServer, binaries_available, wait_for_database
from tests.backend.test_migrate_replica import replicated  # noqa: F401 - fixture

pytestmark = [
    pytest.mark.mariadb,
    pytest.mark.skipif(not binaries_available(), reason="mariadbd is not installed"),
]

PAUSE = 3.0  # seconds the replica's SQL thread stays stopped


def _wait_caught_up(replica: MariaDBServer, url: URL, table: str, ids: list[int]) -> None:
    deadline = time.monotonic() + 30
    while ids_in(url, table) != ids:
        assert time.monotonic() < deadline, "the replica never caught up"
        time.sleep(0.1)


def test_max_replica_lag_waits_for_the_replica_then_continues(
    replicated: tuple[MariaDBServer, MariaDBServer],  # noqa: F811
    make_mariadb_database: Callable[[], URL],
    tmp_path: Path,
    s3: S3Endpoint,
    bucket: str,
) -> None:
    primary, replica = replicated
    name = f"lmsdb_ar_{uuid.uuid4().hex[:10]}"
    primary.execute(f"CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
    wait_for_database(replica, name)
    try:
        fleet = build_fleet(
            tmp_path,
            "mariadb",
            make_mariadb_database,
            shards=1,
            ranges=TWO_SHARDS[:1],
            shard_urls=[primary.url(name)],
        )
        expected = seed_learning(fleet, per_shard=6)[0]
        text = fleet.path.read_text(encoding="utf-8")
        end = text.index("\n", text.index("primary ="))
        replica_url = replica.url(name)
        fleet.path.write_text(
            text[:end] + f'\nreplicas = ["{url_text(replica_url)}"]' + text[end:],
            encoding="utf-8",
        )
        before = ids_in(primary.url(name), "enrollments")
        _wait_caught_up(replica, replica_url, "enrollments", before)
        assert expected

        replica.execute("STOP SLAVE SQL_THREAD")  # its lag is now unknown: counts as lagging
        timer = threading.Timer(PAUSE, lambda: replica.execute("START SLAVE SQL_THREAD"))
        timer.start()
        start = time.monotonic()
        try:
            args = ["archive", "run", "enrollments", "--to", f"s3://{bucket}/lag"]
            args += ["--older-than", "2y", "--date-column", "completed_at"]
            args += ["--status", "completed", "--chunk-size", "2", "--yes", "--json"]
            args += ["--max-replica-lag", "30", "--replica-wait", "60"]
            result = run_cli(fleet.path, args, cli_env(s3.url))
        finally:
            timer.join()
        elapsed = time.monotonic() - start
        assert result.returncode == 0, result.stdout + result.stderr
        [shard] = json.loads(result.stdout)["shards"]
        assert shard["state"] == "done", shard
        assert shard["rows"]["enrollments"] == len(expected)
        assert elapsed >= PAUSE, f"finished in {elapsed:.1f}s: it did not wait for the replica"
        left = sorted(set(before) - set(expected))
        assert ids_in(primary.url(name), "enrollments") == left
        _wait_caught_up(replica, replica_url, "enrollments", left)
    finally:
        primary.execute(f"DROP DATABASE IF EXISTS {name}")
