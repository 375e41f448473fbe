"""Fleets for the Router, id-window, sample and ``lmsdb shard`` tests.

A fleet is a topology file in ``tmp_path`` (catalog + shards on real servers), every shard
built with :func:`lms_db.schema.ddl.create_schema`, the catalog seeded from the file.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import URL

from lms_db.catalog import seed_from_topology
from lms_db.schema.ddl import create_schema
from lms_db.topology.spec import Topology, load_topology
from tests.backend.servers import MariaDBServer, binaries_available, start_mariadbd

#: Ranges of a three-shard fleet: [lo, hi) per keyspace.
THREE_SHARDS = (
    {"user": (0, 1000), "course": (0, 100)},
    {"user": (1000, 2000), "course": (100, 200)},
    {"user": (2000, 5000), "course": (200, 300)},
)


def url_text(url: URL | str) -> str:
    """A URL as text with its password (test servers have none)."""
    return url if isinstance(url, str) else url.render_as_string(hide_password=False)


def topology_text(
    catalog: URL | str,
    shards: Sequence[URL | str],
    ranges: Sequence[dict[str, tuple[int, int]]] = THREE_SHARDS,
    analytics: URL | str | None = None,
) -> str:
    """TOML for a fleet: shard ``i`` is ``shard-i`` with ``ranges[i]`` (if any)."""
    lines = ["[catalog]", f'url = "{url_text(catalog)}"', ""]
    if analytics is not None:
        lines += ["[analytics]", f'url = "{url_text(analytics)}"', ""]
    for i, url in enumerate(shards):
        spans = ranges[i] if i < len(ranges) else {}
        inner = ", ".join(f"{k} = [{lo}, {hi}]" for k, (lo, hi) in spans.items())
        lines += [
            "[[shards]]",
            f'name = "shard-{i}"',
            f'primary = "{url_text(url)}"',
            f"ranges = {{ {inner} }}",
            "",
        ]
    return "\n".join(lines)


@dataclass
class Fleet:
    """A ready fleet: its topology file and loaded topology, and the shard URLs."""

    path: Path
    topology: Topology
    shard_urls: list[URL]
    backend: str

    def engine(self, shard: int) -> sa.Engine:
        """A new engine on shard ``i`` (dispose it)."""
        return sa.create_engine(self.shard_urls[shard])


def build_fleet(
    tmp_path: Path,
    backend: str,
    make_db: Callable[[], URL],
    *,
    shards: int = 3,
    ranges: Sequence[dict[str, tuple[int, int]]] = THREE_SHARDS,
    shard_urls: Sequence[URL] | None = None,
    seed: bool = True,
    analytics: URL | None = None,
    schema: bool = True,
) -> Fleet:
    """Create databases, the schema on each shard, the topology file and the catalog."""
    catalog = make_db()
    urls = list(shard_urls) if shard_urls is not None else [make_db() for _ in range(shards)]
    for url in urls if schema else ():
        engine = sa.create_engine(url)
        with engine.begin() as conn:
            create_schema(conn)
        engine.dispose()
    if analytics is not None:
        engine = sa.create_engine(analytics)
        with engine.begin() as conn:
            create_schema(conn, target="analytics")
        engine.dispose()
    path = tmp_path / f"{backend}-{len(list(tmp_path.iterdir()))}.toml"
    path.write_text(topology_text(catalog, urls, ranges, analytics), encoding="utf-8")
    topology = load_topology(path)
    if seed:
        engine = sa.create_engine(topology.catalog.url)
        seed_from_topology(engine, topology)
        engine.dispose()
    return Fleet(path, topology, urls, backend)


def sqlite_maker(tmp_path: Path) -> Callable[[], URL]:
    """A factory of new SQLite database files under ``tmp_path``."""
    counter = iter(range(10_000))

    def make() -> URL:
        return sa.engine.make_url(f"sqlite:///{tmp_path / f'db{next(counter)}.sqlite'}")

    return make


def table_checksums(url: URL, tables: Sequence[str]) -> dict[str, str]:
    """sha256 of each table's rows, ordered by every column (same rows -> same digest)."""
    engine = sa.create_engine(url)
    out = {}
    try:
        with engine.connect() as conn:
            md = sa.MetaData()
            for name in tables:
                table = sa.Table(name, md, autoload_with=conn)
                digest = hashlib.sha256()
                query = sa.select(table).order_by(*table.columns)
                for row in conn.execute(query):
                    digest.update(repr(tuple(row)).encode())
                out[name] = digest.hexdigest()
    finally:
        engine.dispose()
    return out


# -- fixtures: a test module imports the fixture_* functions it uses ------------------------


@pytest.fixture(scope="session", name="second_mariadb")
def fixture_second_mariadb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MariaDBServer]:
    """A second ``mariadbd`` on a free loopback port: shards on two separate servers."""
    if not binaries_available():
        pytest.skip("mariadbd / mariadb-install-db are not installed")
    server = start_mariadbd(tmp_path_factory.mktemp("second-mariadbd"), "second", 21, primary=False)
    server.execute("SET GLOBAL read_only = 0")
    yield server
    server.stop()


@pytest.fixture(name="make_second_database")
def fixture_make_second_database(second_mariadb: MariaDBServer) -> Iterator[Callable[[], URL]]:
    """Factory of empty databases on the second server, dropped at teardown."""
    names: list[str] = []

    def make() -> URL:
        name = f"lmsdb_s_{uuid.uuid4().hex[:10]}"
        second_mariadb.execute(
            f"CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
        )
        names.append(name)
        return second_mariadb.url(name)

    yield make
    for name in names:
        second_mariadb.execute(f"DROP DATABASE IF EXISTS {name}")


def _fleet_for(
    request: pytest.FixtureRequest, tmp_path: Path, backend: str, **kwargs: Any
) -> Fleet:
    if backend == "mariadb":
        make = request.getfixturevalue("make_mariadb_database")
        second = request.getfixturevalue("make_second_database")
        # Shards 0 and 1 on the service at 3306, shard 2 on a second mariadbd.
        return build_fleet(tmp_path, backend, make, shard_urls=[make(), make(), second()], **kwargs)
    if backend == "postgresql":
        return build_fleet(
            tmp_path, backend, request.getfixturevalue("make_postgresql_database"), **kwargs
        )
    return build_fleet(tmp_path, backend, sqlite_maker(tmp_path), **kwargs)


@pytest.fixture(params=["mariadb", "postgresql", "sqlite"], name="fleet")
def fixture_fleet(request: pytest.FixtureRequest, tmp_path: Path) -> Fleet:
    """A seeded three-shard fleet on each backend (MariaDB: on two servers)."""
    return _fleet_for(request, tmp_path, request.param)


@pytest.fixture(params=["mariadb", "postgresql", "sqlite"], name="map_fleet")
def fixture_map_fleet(request: pytest.FixtureRequest, tmp_path: Path) -> Fleet:
    """Like ``fleet`` but the shards stay empty (no schema): for routing alone."""
    return _fleet_for(request, tmp_path, request.param, schema=False)
