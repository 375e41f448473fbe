"""``lmsdb shard list|status|route|add`` and ``lmsdb sample load`` through CliRunner, on a
MariaDB fleet spread over two servers and on SQLite.
"""

from __future__ import annotations

import itertools
import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from cli import app
from lms_db.catalog import read_id_windows, read_map_version, shards
from lms_db.router import Router
from lms_db.router.keys import ROUTED_KEYSPACES, keyspace_tables
from lms_db.schema.ddl import create_schema
from lms_db.topology.spec import load_topology
from tests.backend.router_helpers import (  # noqa: F401 - fixtures
    Fleet,
    fixture_fleet,
    fixture_make_second_database,
    fixture_second_mariadb,
    url_text,
)
from tests.backend.servers import (
    MariaDBServer,
    binaries_available,
    replicate,
    start_mariadbd,
    wait_for_database,
)

runner = CliRunner()


def lmsdb(fleet: Fleet, *args: str, env: dict[str, str] | None = None) -> Any:
    return runner.invoke(app, ["--topology", str(fleet.path), *args], env=env)


def as_json(fleet: Fleet, *args: str) -> Any:
    result = lmsdb(fleet, *args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _counts(url: sa.URL) -> dict[str, dict[str, int]]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return {
                k: {
                    t.name: conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
                    for t in keyspace_tables(k)
                }
                for k in ROUTED_KEYSPACES
            }
    finally:
        engine.dispose()


def _catalog_state(fleet: Fleet) -> tuple[int, int]:
    engine = sa.create_engine(fleet.topology.catalog.url)
    try:
        with engine.connect() as conn:
            count = conn.execute(sa.select(sa.func.count()).select_from(shards)).scalar_one()
        return count, read_map_version(engine)
    finally:
        engine.dispose()


@pytest.mark.parametrize("fleet", ["mariadb", "sqlite"], indirect=True)
def test_list_load_status_route(fleet: Fleet) -> None:
    listing = as_json(fleet, "shard", "list")
    assert listing["map_version"] == 1 and listing["shards"] == ["shard-0", "shard-1", "shard-2"]
    assert {
        (r["keyspace"], r["lo"], r["hi"], r["shard"], r["state"]) for r in listing["ranges"]
    } >= {("user", 1000, 2000, "shard-1", "serving")}
    text = lmsdb(fleet, "shard", "list")
    assert text.exit_code == 0 and "[1,000, 2,000)" in text.stdout

    loaded = as_json(fleet, "sample", "load", "--users", "45", "--courses", "4", "--seed", "3")
    assert loaded["users"] == 45 and loaded["total_rows"] > 500

    status = as_json(fleet, "shard", "status")
    assert status["map_version"] == 1
    total = sum(sum(s["rows"][k] for k in ("user", "course")) for s in status["shards"])
    for i, shard in enumerate(status["shards"]):
        direct = _counts(fleet.shard_urls[i])
        assert shard["tables"] == direct, shard["shard"]
        assert shard["rows"] == {k: sum(v.values()) for k, v in direct.items()}
        assert shard["share"] == pytest.approx(
            (shard["rows"]["user"] + shard["rows"]["course"]) / total, abs=1e-5
        )
        assert all(b is None or b > 0 for b in shard["bytes"].values())
        assert {w["table"] for w in shard["id_windows"]} >= {"users", "enrollments"}
        for w in shard["id_windows"]:  # SQLite grants exactly the ids each insert reserves
            assert w["granted_per_reservation"] is (fleet.backend == "sqlite")
            assert w["used"] + w["remaining"] == w["hi"] - w["lo"] and not w["low"]
    assert sum(s["share"] for s in status["shards"]) == pytest.approx(1.0, abs=1e-4)
    text = lmsdb(fleet, "shard", "status")
    assert text.exit_code == 0 and "█" in text.stdout and "id windows" in text.stdout
    assert ("per reservation" in text.stdout) is (fleet.backend == "sqlite")

    assert as_json(fleet, "shard", "route", "user", "1500")["shard"] == "shard-1"
    routed = lmsdb(fleet, "shard", "route", "course", "250")
    assert routed.exit_code == 0 and "shard-2" in routed.stdout and "serving" in routed.stdout


@pytest.mark.parametrize(
    "args, message",
    [
        (["shard", "route", "users", "5"], "unknown keyspace 'users'"),
        (["shard", "route", "user", "abc"], "key must be a non-negative integer"),
        (["shard", "route", "user", "1.5"], "key must be a non-negative integer"),
        (["shard", "route", "user", "99999999"], "no shard serves user key 99999999"),
        (["shard", "status", "--shard", "nope"], "unknown shard 'nope'"),
        (["shard", "add", "bad name!", "--primary", "sqlite:///x.db"], "shard name"),
        (["shard", "add", "shard-0", "--primary", "sqlite:///x.db"], "already exists"),
        (["shard", "add", "new", "--primary", "oracle://h/db"], "unknown driver 'oracle'"),
        (["sample", "load", "--users", "5", "--courses", "1", "--skew", "1,2"], "3 user shards"),
        (["shard", "grant-windows", "--shard", "nope"], "unknown shard 'nope'"),
        (["shard", "grant-windows", "--table", "nope"], "'nope' draws no ids from windows"),
        (["shard", "grant-windows", "--min-remaining", "0"], "--min-remaining"),
    ],
)
@pytest.mark.parametrize("fleet", ["sqlite"], indirect=True)
def test_bad_input_exits_2_with_one_line_and_changes_nothing(
    fleet: Fleet, args: list[str], message: str
) -> None:
    before = _catalog_state(fleet)
    result = lmsdb(fleet, *args)
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], lines
    assert "Traceback" not in result.output
    assert _catalog_state(fleet) == before
    assert not Path("x.db").exists()


@pytest.mark.parametrize("fleet", ["mariadb", "sqlite"], indirect=True)
def test_add_then_status_shows_the_new_empty_shard_at_head(
    fleet: Fleet, request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env: dict[str, str] = {}
    if fleet.backend == "mariadb":
        url = request.getfixturevalue("make_second_database")()
        # The URL names its database through ${VAR}, as a password would be.
        monkeypatch.setenv("LMS_TEST_SHARD_DB", str(url.database))
        primary = f"mysql+pymysql://root@127.0.0.1:{url.port}/${{LMS_TEST_SHARD_DB}}"
    else:
        primary = f"sqlite:///{tmp_path / 'shard-3.sqlite'}"
    as_json(fleet, "sample", "load", "--users", "12", "--courses", "2")
    before = _catalog_state(fleet)

    dry = lmsdb(fleet, "shard", "add", "shard-3", "--primary", primary, "--dry-run", env=env)
    assert dry.exit_code == 0 and "nothing changed" in dry.stdout, dry.output
    assert _catalog_state(fleet) == before

    added = lmsdb(fleet, "shard", "add", "shard-3", "--primary", primary, env=env)
    assert added.exit_code == 0, added.output
    assert "added shard-3" in added.stdout and "${" not in added.stdout
    assert _catalog_state(fleet) == (before[0] + 1, before[1] + 1)

    # The fleet was built without lmsdb and the small load left shard-2 without a courses
    # window: shard status counts that counter as an error (#9) until windows are granted.
    lmsdb(fleet, "shard", "grant-windows")
    status = as_json(fleet, "shard", "status")
    new = next(s for s in status["shards"] if s["shard"] == "shard-3")
    assert new["error"] is None and new["at_head"] and new["revision"] == new["head"]
    assert new["rows"]["user"] == new["rows"]["course"] == 0 and new["share"] == 0
    assert new["rows"]["global"] > 0  # categories and coupons copied in
    if fleet.backend == "mariadb":  # SQLite grants windows per reservation (none yet)
        assert {w["table"] for w in new["id_windows"]} >= {"enrollments", "payments"}
        assert not {w["table"] for w in new["id_windows"]} & {"users", "courses"}
    assert "shard-3" in as_json(fleet, "shard", "list")["shards"]

    again = lmsdb(fleet, "shard", "add", "shard-3", "--primary", primary, env=env)
    assert again.exit_code == 2 and "already exists" in again.stderr
    other = lmsdb(fleet, "shard", "add", "shard-4", "--primary", primary, env=env)
    assert other.exit_code == 2 and "already the primary of shard-3" in other.stderr
    assert _catalog_state(fleet) == (before[0] + 1, before[1] + 1)


@pytest.mark.parametrize("fleet", ["sqlite"], indirect=True)
def test_add_refuses_a_database_that_is_not_empty(fleet: Fleet, tmp_path: Path) -> None:
    path = tmp_path / "used.sqlite"
    engine = sa.create_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE something (id INTEGER)")
    engine.dispose()
    before = _catalog_state(fleet)
    result = lmsdb(fleet, "shard", "add", "shard-9", "--primary", f"sqlite:///{path}")
    assert result.exit_code == 2 and "is not empty (1 tables: something)" in result.stderr
    assert _catalog_state(fleet) == before


@pytest.fixture(scope="module", name="replicated_pair")
def fixture_replicated_pair(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[MariaDBServer, MariaDBServer]]:
    """A primary ``mariadbd`` (binary log) and a read-only replica following it by GTID."""
    if not binaries_available():
        pytest.skip("mariadbd / mariadb-install-db are not installed")
    base = tmp_path_factory.mktemp("shard-replica")
    primary = start_mariadbd(base, "primary", 31, primary=True)
    replica = start_mariadbd(base, "replica", 32, primary=False)
    try:
        replicate(replica, primary)
        yield primary, replica
    finally:
        replica.stop()
        primary.stop()


def test_status_shows_replica_lag_and_reads_go_to_the_replica(
    replicated_pair: tuple[MariaDBServer, MariaDBServer],
    make_mariadb_database: Callable[[], sa.URL],
    tmp_path: Path,
) -> None:
    primary, replica = replicated_pair
    name = f"lmsdb_rr_{uuid.uuid4().hex[:8]}"
    primary.execute(f"CREATE DATABASE {name}")
    wait_for_database(replica, name)
    engine = sa.create_engine(primary.url(name))
    with engine.begin() as conn:
        create_schema(conn)
    engine.dispose()
    path = tmp_path / "replicated.toml"
    path.write_text(
        f'[catalog]\nurl = "{url_text(make_mariadb_database())}"\n\n[[shards]]\n'
        f'name = "shard-0"\nprimary = "{url_text(primary.url(name))}"\n'
        f'replicas = ["{url_text(replica.url(name))}"]\n'
        "ranges = { user = [0, 1000], course = [0, 100] }\n",
        encoding="utf-8",
    )
    topology = load_topology(path)
    with Router.from_topology(topology, seed=True) as router:
        assert router.engine_for("user", 5, read=True).url.port == replica.port
        assert router.engine_for("user", 5).url.port == primary.port
    fleet = Fleet(path, topology, [primary.url(name)], "mariadb")
    assert lmsdb(fleet, "shard", "grant-windows").exit_code == 0  # built without lmsdb
    status = as_json(fleet, "shard", "status")
    [replica_row] = status["shards"][0]["replicas"]
    assert replica_row["error"] is None and replica_row["lag_seconds"] is not None
    assert replica_row["lag_seconds"] < 60 and str(replica.port) in replica_row["database"]
    text = lmsdb(fleet, "shard", "status")
    assert text.exit_code == 0 and "lag" in text.stdout
    primary.execute(f"DROP DATABASE IF EXISTS {name}")


def _windows(fleet: Fleet) -> list[tuple[str, str, int, int]]:
    engine = sa.create_engine(fleet.topology.catalog.url)
    try:
        return sorted((w.table_name, w.shard, w.lo, w.hi) for w in read_id_windows(engine))
    finally:
        engine.dispose()


@pytest.mark.parametrize("fleet", ["mariadb"], indirect=True)
def test_grant_windows_tops_up_missing_and_low_windows(fleet: Fleet) -> None:
    assert _windows(fleet) == []  # a fleet built without lmsdb: no window anywhere yet
    unwindowed = lmsdb(fleet, "shard", "status", "--json")
    assert unwindowed.exit_code == 1, "a counter drawing from no window is an error (#9)"
    status = json.loads(unwindowed.stdout)
    assert all(
        {"users", "enrollments", "courses"} <= set(s["without_windows"]) for s in status["shards"]
    )
    assert "no id window for" in lmsdb(fleet, "shard", "status").stdout
    dry = as_json(fleet, "shard", "grant-windows", "--dry-run")
    assert dry["dry_run"] and len(dry["windows"]) > 3 * 10
    assert all(len(w["granted"]) == 1 and w["remaining_before"] is None for w in dry["windows"]), (
        "the dry run shows the windows it would grant"
    )
    assert _windows(fleet) == [], "a dry run grants nothing"

    done = as_json(fleet, "shard", "grant-windows")
    assert done["windows"] == dry["windows"], "the real run does exactly what the dry run said"
    assert all(len(w["granted"]) == 1 for w in done["windows"])
    assert as_json(fleet, "shard", "grant-windows")["windows"] == [], "idempotent"
    assert all(s["without_windows"] == [] for s in as_json(fleet, "shard", "status")["shards"])
    text = lmsdb(fleet, "shard", "grant-windows")
    assert text.exit_code == 0 and "nothing to do" in text.stdout

    # Ahead of a big import: more room for one shard's audit log.
    before = _windows(fleet)
    more = as_json(
        fleet,
        "shard",
        "grant-windows",
        "--shard",
        "shard-1",
        "--table",
        "audit_logs",
        "--min-remaining",
        "20000000",
    )
    [(table, shard, lo, hi)] = sorted(set(_windows(fleet)) - set(before))
    assert (table, shard) == ("audit_logs", "shard-1")
    assert more["windows"][0]["granted"] == [{"lo": lo, "hi": hi}]
    engine = fleet.engine(1)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("INSERT INTO audit_logs (action) VALUES ('import')"))
            new_id = conn.execute(sa.text("SELECT MAX(id) FROM audit_logs")).scalar_one()
    finally:
        engine.dispose()
    assert lo <= new_id < hi, "the counter moved into the new window"
    spans = sorted((lo, hi) for table, _, lo, hi in _windows(fleet) if table == "audit_logs")
    for (_, hi), (lo, _) in itertools.pairwise(spans):
        assert hi <= lo, "windows never overlap"
