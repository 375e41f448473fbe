"""The catalog is the truth about what each shard is (issue #9): a topology that points a
known shard at another database, or a catalog URL typo, is refused (exit 2) naming both; a
rebuilt shard is adopted.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import URL

from lms_db.catalog.identity import read_identity, shard_identity
from lms_db.catalog.schema import utcnow
from lms_db.errors import TopologyMismatch
from lms_db.router import Router
from lms_db.topology.spec import load_topology
from tests.backend.fleet_helpers import execute, lmsdb, revision_of, table_names, write_topology


def _sqlite(tmp_path: Path, name: str) -> str:
    return f"sqlite:///{tmp_path / name}"


def _identity(url: URL | str) -> tuple[str, str] | None:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            found = read_identity(conn)
    finally:
        engine.dispose()
    return None if found is None else (found.fleet_id, found.shard)


@pytest.fixture
def sqlite_fleet(tmp_path: Path) -> tuple[Path, str, list[str]]:
    """Three migrated SQLite shards: (topology, catalog URL, shard URLs)."""
    catalog = _sqlite(tmp_path, "catalog.db")
    shards = [_sqlite(tmp_path, f"s{i}.db") for i in range(3)]
    topology = write_topology(tmp_path, catalog, shards)
    up = lmsdb(topology, "migrate", "up")
    assert up.exit_code == 0, up.output
    return topology, catalog, shards


def test_migrate_up_writes_each_shards_identity(sqlite_fleet: tuple[Path, str, list[str]]) -> None:
    topology, catalog, shards = sqlite_fleet
    found = [_identity(url) for url in shards]
    assert [f[1] for f in found if f] == ["shard-0", "shard-1", "shard-2"]
    assert len({f[0] for f in found if f}) == 1  # one fleet id, the catalog's
    engine = sa.create_engine(catalog)
    with engine.connect() as conn:
        fleet_id = conn.execute(sa.text("SELECT fleet_id FROM fleet")).scalar_one()
    engine.dispose()
    assert found[0] is not None and found[0][0] == fleet_id
    check = lmsdb(topology, "schema", "check")  # the identity table is not drift
    assert check.exit_code == 0, check.output


@pytest.mark.parametrize(
    "command",
    [
        ["shard", "list"],
        ["migrate", "up"],
        ["migrate", "status"],
        ["sample", "load", "--users", "3", "--courses", "1"],
        ["shard", "status"],
    ],
)
def test_a_topology_typo_is_refused_naming_both(
    sqlite_fleet: tuple[Path, str, list[str]], tmp_path: Path, command: list[str]
) -> None:
    topology, catalog, shards = sqlite_fleet
    typo = _sqlite(tmp_path, "s1-typo.db")
    write_topology(tmp_path, catalog, [shards[0], typo, shards[2]])
    result = lmsdb(topology, *command)
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert f"the topology points shard-1 at sqlite:///{tmp_path / 's1-typo.db'}" in lines[0]
    assert f"the catalog recorded shard-1 at sqlite:///{tmp_path / 's1.db'}" in lines[0]
    assert "lmsdb shard set shard-1" in lines[0]
    assert not (tmp_path / "s1-typo.db").exists()  # nothing created, nothing migrated


def test_the_router_refuses_it_too(
    sqlite_fleet: tuple[Path, str, list[str]], tmp_path: Path
) -> None:
    _, catalog, shards = sqlite_fleet
    swapped = write_topology(tmp_path, catalog, [shards[0], shards[2], shards[1]])
    with pytest.raises(TopologyMismatch, match="that database is shard-2's"):
        Router.from_topology(load_topology(swapped))


def test_a_shard_that_really_moved_is_recorded_with_shard_set(
    sqlite_fleet: tuple[Path, str, list[str]], tmp_path: Path
) -> None:
    topology, catalog, shards = sqlite_fleet
    moved = tmp_path / "s1-moved.db"
    moved.write_bytes((tmp_path / "s1.db").read_bytes())  # a copy on the "new server"
    write_topology(tmp_path, catalog, [shards[0], f"sqlite:///{moved}", shards[2]])
    assert lmsdb(topology, "shard", "list").exit_code == 2
    changed = lmsdb(topology, "shard", "set", "shard-1", "--primary", f"sqlite:///{moved}")
    assert changed.exit_code == 0, changed.output
    assert lmsdb(topology, "shard", "list").exit_code == 0
    assert lmsdb(topology, "migrate", "up").exit_code == 0


def test_a_shard_database_of_another_shard_is_refused(
    sqlite_fleet: tuple[Path, str, list[str]], tmp_path: Path
) -> None:
    topology, _, _ = sqlite_fleet
    # shard-1's database copied over shard-2's: same path, wrong contents.
    (tmp_path / "s2.db").write_bytes((tmp_path / "s1.db").read_bytes())
    result = lmsdb(topology, "migrate", "up")
    assert result.exit_code == 2, result.output
    assert "is shard shard-1 (its identity row), but is given as shard shard-2" in result.stderr
    listed = lmsdb(topology, "shard", "route", "user", "2500")  # reads the map only
    assert listed.exit_code == 0
    status = lmsdb(topology, "sample", "load", "--users", "3", "--courses", "1")
    assert status.exit_code == 2 and "is shard shard-1" in status.stderr


def test_a_catalog_url_typo_does_not_seed_a_second_map(
    sqlite_fleet: tuple[Path, str, list[str]], tmp_path: Path
) -> None:
    topology, _, shards = sqlite_fleet
    write_topology(tmp_path, _sqlite(tmp_path, "catalog-typo.db"), shards)
    result = lmsdb(topology, "migrate", "up")
    assert result.exit_code == 2, result.output
    assert "is shard-0 of another fleet" in result.stderr and "check the catalog URL" in (
        result.stderr
    )
    assert not (tmp_path / "catalog-typo.db").exists()
    loaded = lmsdb(topology, "sample", "load", "--users", "3", "--courses", "1")
    assert loaded.exit_code == 2 and "of another fleet" in loaded.stderr
    assert not (tmp_path / "catalog-typo.db").exists()


def test_a_rebuilt_shard_is_adopted(
    sqlite_fleet: tuple[Path, str, list[str]], tmp_path: Path
) -> None:
    topology, _, shards = sqlite_fleet
    before = _identity(shards[1])
    (tmp_path / "s1.db").unlink()  # the SQLite form of DROP/CREATE DATABASE
    up = lmsdb(topology, "migrate", "up")
    assert up.exit_code == 0, up.output
    assert revision_of(shards[1]) is not None and _identity(shards[1]) == before


def test_the_router_checks_a_primarys_identity_row(
    sqlite_fleet: tuple[Path, str, list[str]], tmp_path: Path
) -> None:
    topology, _, _ = sqlite_fleet
    (tmp_path / "s2.db").write_bytes((tmp_path / "s1.db").read_bytes())
    with Router.from_topology(load_topology(topology)) as router:
        assert router.engine_for_shard("shard-1") is not None
        with pytest.raises(TopologyMismatch, match=r"is shard shard-1 .* given as shard shard-2"):
            router.engine_for_shard("shard-2")


@pytest.fixture(params=["mariadb", "postgresql"])
def server_fleet(
    request: pytest.FixtureRequest, tmp_path: Path
) -> tuple[Path, URL, list[URL], Callable[[], URL]]:
    """A migrated two-shard fleet on a real server: (topology, catalog, shards, make_db)."""
    make = request.getfixturevalue(f"make_{request.param}_database")
    catalog, shards = make(), [make(), make()]
    topology = write_topology(tmp_path, catalog, shards)
    up = lmsdb(topology, "migrate", "up")
    assert up.exit_code == 0, up.output
    return topology, catalog, shards, make


def test_a_typo_on_a_server_is_refused_before_anything_runs(
    server_fleet: tuple[Path, URL, list[URL], Callable[[], URL]], tmp_path: Path
) -> None:
    topology, catalog, shards, make = server_fleet
    typo = make()
    write_topology(tmp_path, catalog, [shards[0], typo])
    for command in (["migrate", "up"], ["shard", "status"], ["schema", "check"]):
        result = lmsdb(topology, *command)
        assert result.exit_code == 2, (command, result.output)
        assert f"/{typo.database}, but the catalog recorded shard-1 at" in result.stderr
        assert f"/{shards[1].database}" in result.stderr
    assert table_names(typo) == set()  # the empty database was never migrated


def test_a_rebuilt_shard_on_a_server_is_adopted(
    server_fleet: tuple[Path, URL, list[URL], Callable[[], URL]], postgresql_server_url: URL
) -> None:
    topology, catalog, shards, _ = server_fleet
    before = _identity(shards[1])
    assert before is not None and before[1] == "shard-1"
    name = shards[1].database
    if shards[1].get_backend_name() == "postgresql":
        admin = sa.create_engine(postgresql_server_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE {name} WITH (FORCE)")
            conn.exec_driver_sql(f"CREATE DATABASE {name}")
        admin.dispose()
    else:
        execute(catalog, f"DROP DATABASE {name}", f"CREATE DATABASE {name}")
    up = lmsdb(topology, "migrate", "up", "--json")
    assert up.exit_code == 0, up.output
    results = {r["shard"]: r["result"] for r in json.loads(up.stdout)["results"]}
    assert results == {"shard-0": "current", "shard-1": "migrated"}
    assert _identity(shards[1]) == before
    check = lmsdb(topology, "schema", "check")
    assert check.exit_code == 0, check.output


def test_shard_add_writes_the_identity_and_set_refuses_another_shards_database(
    sqlite_fleet: tuple[Path, str, list[str]], tmp_path: Path
) -> None:
    topology, _, shards = sqlite_fleet
    new = _sqlite(tmp_path, "s3.db")
    assert lmsdb(topology, "shard", "add", "shard-3", "--primary", new).exit_code == 0
    fleet_id = _identity(shards[0])
    assert fleet_id is not None and _identity(new) == (fleet_id[0], "shard-3")
    copy = tmp_path / "copy-of-s0.db"
    copy.write_bytes((tmp_path / "s0.db").read_bytes())
    refused = lmsdb(topology, "shard", "set", "shard-3", "--primary", f"sqlite:///{copy}")
    assert refused.exit_code == 2, refused.output
    assert "is shard shard-0 (its identity row), but is given as shard shard-3" in (refused.stderr)


def test_shard_add_refuses_an_empty_database_of_another_shard(
    sqlite_fleet: tuple[Path, str, list[str]], tmp_path: Path
) -> None:
    topology, _, shards = sqlite_fleet
    fleet_id = _identity(shards[0])
    assert fleet_id is not None
    target = _sqlite(tmp_path, "emptied.db")  # shard-0's database, emptied but for its row
    engine = sa.create_engine(target)
    with engine.begin() as conn:
        shard_identity.create(conn)
        conn.execute(
            shard_identity.insert().values(
                id=1, fleet_id=fleet_id[0], shard="shard-0", written_at=utcnow()
            )
        )
    engine.dispose()
    result = lmsdb(topology, "shard", "add", "shard-9", "--primary", target)
    assert result.exit_code == 2, result.output
    assert "is shard shard-0 (its identity row), but is given as shard shard-9" in result.stderr
    assert "shard-9" not in json.loads(lmsdb(topology, "shard", "list", "--json").stdout)["shards"]
