"""The catalog on real SQLite, MariaDB and PostgreSQL; connect_check against real servers."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine

from lms_db.catalog import (
    CATALOG_SCHEMA_VERSION,
    CatalogError,
    advance_journal_entry,
    bump_map_version,
    catalog_schema,
    close_journal_entry,
    ensure_catalog,
    grant_id_window,
    map_version,
    open_entries,
    open_journal_entry,
    read_id_windows,
    read_journal_entry,
    read_map_version,
    read_shard_map,
    seed_from_topology,
    shard_ranges,
    shards,
)
from lms_db.errors import ConfigError, ConnectionFailed, UnknownObjectError
from lms_db.topology.engines import connect_check, engine_for
from lms_db.topology.spec import DatabaseRef, Topology, load_topology

SECRET = "hunter2-s3cr3t"
CATALOG_TABLES = {
    "shards",
    "shard_ranges",
    "map_version",
    "id_windows",
    "journal",
    "catalog_schema",
}

TOPOLOGY = """
[catalog]
url = "sqlite:///./catalog.db"

[[shards]]
name = "shard-0"
primary = "mysql+pymysql://lms:${LMS_TEST_PW}@10.0.0.1:3306/lms_shard_0"
ranges = { user = [0, 1000000], course = [0, 10000] }

[[shards]]
name = "shard-1"
primary = "mysql+pymysql://lms:${LMS_TEST_PW}@10.0.0.2:3306/lms_shard_1"
ranges = { user = [1000000, 2000000], course = [10000, 20000] }

[[shards]]
name = "shard-2"
primary = "mysql+pymysql://lms:${LMS_TEST_PW}@10.0.0.3:3306/lms_shard_2"
"""


@pytest.fixture
def topology(tmp_path: Path) -> Topology:
    path = tmp_path / "topology.toml"
    path.write_text(TOPOLOGY, encoding="utf-8")
    return load_topology(path, environ={"LMS_TEST_PW": SECRET})


@pytest.fixture
def catalog(any_engine: Engine) -> Engine:
    """A fresh database of each backend with the catalog tables created."""
    ensure_catalog(any_engine)
    return any_engine


def test_ensure_catalog_creates_every_table_once(any_engine: Engine) -> None:
    assert ensure_catalog(any_engine) == CATALOG_SCHEMA_VERSION
    assert ensure_catalog(any_engine) == CATALOG_SCHEMA_VERSION
    assert set(sa.inspect(any_engine).get_table_names()) >= CATALOG_TABLES
    with any_engine.connect() as conn:
        assert sorted(conn.execute(sa.select(catalog_schema.c.version)).scalars()) == list(
            range(1, CATALOG_SCHEMA_VERSION + 1)
        )
        assert conn.execute(sa.select(map_version.c.version)).scalars().all() == [0]


def test_ensure_catalog_refuses_a_newer_catalog(catalog: Engine) -> None:
    with catalog.begin() as conn:
        conn.execute(catalog_schema.insert().values(version=CATALOG_SCHEMA_VERSION + 1))
    with pytest.raises(ConfigError, match="newer than this lmsdb understands"):
        ensure_catalog(catalog)


def test_seed_once_then_the_catalog_is_the_truth(any_engine: Engine, topology: Topology) -> None:
    assert seed_from_topology(any_engine, topology) is True
    shard_map = read_shard_map(any_engine)
    assert shard_map.version == 1
    assert [(r.keyspace, r.lo, r.hi, r.shard, r.state) for r in shard_map.ranges] == [
        ("course", 0, 10000, "shard-0", "serving"),
        ("course", 10000, 20000, "shard-1", "serving"),
        ("user", 0, 1000000, "shard-0", "serving"),
        ("user", 1000000, 2000000, "shard-1", "serving"),
    ]
    assert shard_map.find("user", 1_500_000).shard == "shard-1"
    assert shard_map.find("course", 0).shard == "shard-0"
    with pytest.raises(UnknownObjectError, match="no shard serves user key 2000000"):
        shard_map.find("user", 2_000_000)

    # A move changes the catalog; seeding again must not undo it.
    with any_engine.begin() as conn:
        version = bump_map_version(conn)
        conn.execute(
            shard_ranges.update()
            .where(shard_ranges.c.keyspace == "user", shard_ranges.c.lo == 1000000)
            .values(shard="shard-2", map_version=version)
        )
    assert seed_from_topology(any_engine, topology) is False
    shard_map = read_shard_map(any_engine)
    assert shard_map.version == read_map_version(any_engine) == 2
    assert shard_map.find("user", 1_000_000).shard == "shard-2"


def test_seed_stores_the_url_template_never_the_secret(
    any_engine: Engine, topology: Topology
) -> None:
    seed_from_topology(any_engine, topology)
    with any_engine.connect() as conn:
        rows = dict(conn.execute(sa.select(shards.c.name, shards.c.primary_url_template)).all())
    assert set(rows) == {"shard-0", "shard-1", "shard-2"}
    assert rows["shard-0"] == "mysql+pymysql://lms:${LMS_TEST_PW}@10.0.0.1:3306/lms_shard_0"
    assert all(SECRET not in url for url in rows.values())


def test_map_version_bump_rolls_back_with_its_transaction(catalog: Engine) -> None:
    with pytest.raises(RuntimeError), catalog.begin() as conn:
        assert bump_map_version(conn) == 1
        raise RuntimeError("abort the range change")
    assert read_map_version(catalog) == 0


def test_range_state_and_bounds_are_checked(catalog: Engine, topology: Topology) -> None:
    seed_from_topology(catalog, topology)
    bad_rows = [
        {
            "keyspace": "user",
            "lo": 5000000,
            "hi": 6000000,
            "shard": "shard-0",
            "state": "bogus",
            "map_version": 1,
        },
        {
            "keyspace": "user",
            "lo": 7000000,
            "hi": 7000000,
            "shard": "shard-0",
            "state": "serving",
            "map_version": 1,
        },
    ]
    for row in bad_rows:
        with pytest.raises(sa.exc.DBAPIError), catalog.begin() as conn:
            conn.execute(shard_ranges.insert().values(**row))


def test_journal_lifecycle(catalog: Engine) -> None:
    move = open_journal_entry(
        catalog,
        operation="move",
        step="plan",
        shard="shard-0",
        keyspace="user",
        lo=0,
        hi=500000,
        payload={"target": "shard-1", "chunks": [1, 2]},
    )
    archive = open_journal_entry(catalog, operation="archive", step="select", shard="shard-1")
    fleet = open_journal_entry(catalog, operation="migrate", step="start", holder="ops-1:42")

    assert [e.id for e in open_entries(catalog)] == [move, archive, fleet]
    assert [e.id for e in open_entries(catalog, "shard-0")] == [move, fleet]
    assert [e.id for e in open_entries(catalog, operation="archive")] == [archive]

    advance_journal_entry(catalog, move, step="copy", payload={"target": "shard-1", "at": 10})
    entry = read_journal_entry(catalog, move)
    assert (entry.step, entry.state, entry.payload) == (
        "copy",
        "open",
        {"target": "shard-1", "at": 10},
    )
    assert (entry.keyspace, entry.lo, entry.hi) == ("user", 0, 500000)
    assert ":" in entry.holder
    assert read_journal_entry(catalog, fleet).holder == "ops-1:42"

    close_journal_entry(catalog, move, step="delete")
    close_journal_entry(catalog, archive, state="failed", payload={"error": "upload failed"})
    assert [e.id for e in open_entries(catalog)] == [fleet]
    closed = read_journal_entry(catalog, archive)
    assert (closed.state, closed.payload) == ("failed", {"error": "upload failed"})
    with pytest.raises(UnknownObjectError, match=f"no open journal entry with id {move}"):
        close_journal_entry(catalog, move)
    with pytest.raises(UnknownObjectError):
        read_journal_entry(catalog, 987654)


def test_id_windows_never_overlap(catalog: Engine, topology: Topology) -> None:
    seed_from_topology(catalog, topology)
    grant_id_window(catalog, table_name="users", shard="shard-0", lo=1, hi=10**12)
    grant_id_window(catalog, table_name="users", shard="shard-1", lo=10**12, hi=2 * 10**12)
    grant_id_window(catalog, table_name="courses", shard="shard-0", lo=1, hi=10**12)
    with pytest.raises(CatalogError, match=r"overlaps .* already granted to shard-1"):
        grant_id_window(
            catalog, table_name="users", shard="shard-2", lo=1500 * 10**9, hi=3 * 10**12
        )
    windows = read_id_windows(catalog, "users")
    assert [(w.shard, w.lo, w.hi) for w in windows] == [
        ("shard-0", 1, 10**12),
        ("shard-1", 10**12, 2 * 10**12),
    ]
    assert len(read_id_windows(catalog)) == 3


def test_reading_a_missing_catalog_is_a_catalog_error(any_engine: Engine) -> None:
    with pytest.raises(CatalogError, match=r"^catalog \S+: "):
        read_shard_map(any_engine)


def test_catalog_through_a_topology_ref(topology: Topology) -> None:
    engine = engine_for(topology.catalog)
    try:
        assert seed_from_topology(engine, topology) is True
    finally:
        engine.dispose()
    assert (topology.path.parent / "catalog.db").exists()


# -- connect_check ---------------------------------------------------------------------


def _ref(url: URL | str) -> DatabaseRef:
    parsed = sa.engine.make_url(url)
    return DatabaseRef(url=parsed, template=parsed.render_as_string(hide_password=True))


def test_connect_check_passes_on_live_servers(
    mariadb_server_url: URL, postgresql_server_url: URL
) -> None:
    connect_check(_ref(mariadb_server_url))
    connect_check(_ref(postgresql_server_url))


def test_connect_check_wrong_password_names_the_server_not_the_secret(
    mariadb_server_url: URL,
) -> None:
    url = mariadb_server_url.set(username="lmsdb_no_such_user", password=SECRET)
    with pytest.raises(ConnectionFailed) as info:
        connect_check(_ref(url))
    message = info.value.message
    assert message.startswith("cannot connect to mysql+pymysql://lmsdb_no_such_user:***@")
    assert "Access denied" in message
    assert SECRET not in message and "\n" not in message
    assert info.value.exit_code == 2


@pytest.mark.parametrize(
    "url",
    [
        f"mysql+pymysql://root:{SECRET}@127.0.0.1:1/lms",
        f"postgresql+psycopg://postgres:{SECRET}@127.0.0.1:1/lms",
    ],
    ids=["mariadb", "postgresql"],
)
def test_connect_check_unreachable_port(url: str) -> None:
    with pytest.raises(ConnectionFailed) as info:
        connect_check(_ref(url), timeout=2)
    message = info.value.message
    assert message.startswith("cannot connect to ") and ":***@127.0.0.1:1/lms: " in message
    assert SECRET not in message and "\n" not in message


def test_connect_check_unknown_database(mariadb_server_url: URL) -> None:
    with pytest.raises(ConnectionFailed, match="Unknown database 'lmsdb_no_such_db'"):
        connect_check(_ref(mariadb_server_url.set(database="lmsdb_no_such_db")))


def test_connect_check_does_not_create_a_sqlite_file(tmp_path: Path) -> None:
    missing = tmp_path / "new.db"
    connect_check(_ref(f"sqlite:///{missing}"))
    assert not missing.exists()
    sa.create_engine(f"sqlite:///{missing}").dispose()
    existing = tmp_path / "old.db"
    with sa.create_engine(f"sqlite:///{existing}").begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (x INTEGER)")
    connect_check(_ref(f"sqlite:///{existing}"))
    with pytest.raises(ConnectionFailed, match="cannot connect to sqlite:///"):
        connect_check(_ref(f"sqlite:///{tmp_path}"))


@pytest.mark.parametrize("backend", ["mariadb", "postgresql"])
def test_concurrent_seeds_seed_once(
    backend: str, request: pytest.FixtureRequest, topology: Topology
) -> None:
    url: URL = request.getfixturevalue(f"make_{backend}_database")()
    engines = [sa.create_engine(url) for _ in range(4)]
    try:
        with ThreadPoolExecutor(max_workers=4) as pool:
            results = list(pool.map(lambda e: seed_from_topology(e, topology), engines))
        assert sorted(results) == [False, False, False, True]
        assert read_shard_map(engines[0]).version == 1
        assert len(read_shard_map(engines[0]).ranges) == 4
    finally:
        for engine in engines:
            engine.dispose()
