"""Benchmark: 16 MariaDB shards from empty to head, lmsdb --parallel 8 vs --parallel 1.

In one run, on fresh databases each time, three legs:

1. sequential Alembic, what a DBA would script without lmsdb (``alembic upgrade head`` per
   shard, one after the other, no locks, no journal);
2. ``lmsdb migrate up --parallel 1`` (the same, plus locks, journal and the canary);
3. ``lmsdb migrate up --parallel 8`` (canary first, then 8 worker processes).

The legs run twice: with the 16 shard databases on the MariaDB service (the issue's setup),
and spread over ``--servers`` extra ``mariadbd`` instances this script starts (the production
shape: shards live on different servers).  Run it from the repository root (needs the MariaDB
on 127.0.0.1:3306, root without password, and ``mariadbd`` for the second layout)::

    python benchmarks/migrate_parallel.py                  # 16 shards, --parallel 8
    python benchmarks/migrate_parallel.py --repeat 3       # median of 3 (docs/benchmarks.md)
    python benchmarks/migrate_parallel.py --shards 32 --parallel 16 --servers 0

It prints the wall time of each leg and the ratios; docs/benchmarks.md records the figures.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from functools import partial
from pathlib import Path

import sqlalchemy as sa
from alembic import command

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lms_db.fleet.fanout import FanoutPolicy
from lms_db.migrate.run import MigrateRequest, migrate_fleet
from lms_db.migrate.scripts import alembic_config
from lms_db.topology.spec import load_topology
from tests.backend.servers import start_mariadbd

PREFIX = "lmsdb_bench"


def _names(count: int) -> list[str]:
    return [f"{PREFIX}_{i:02d}" for i in range(count)]


def _admin(server: sa.URL) -> sa.Engine:
    return sa.create_engine(
        server._replace(database=None), isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool
    )


def recreate(urls: list[sa.URL]) -> None:
    """Drop and create the benchmark's databases (empty shards, empty catalog)."""
    for url in urls:
        with _admin(url).connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {url.database}")
            conn.exec_driver_sql(
                f"CREATE DATABASE {url.database} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
            )


def drop(urls: list[sa.URL]) -> None:
    for url in urls:
        with _admin(url).connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {url.database}")


def write_topology(catalog: sa.URL, shards: list[sa.URL], directory: Path) -> Path:
    step = 1_000_000
    lines = ["[catalog]", f'url = "{catalog.render_as_string(hide_password=False)}"', ""]
    for i, url in enumerate(shards):
        lines += [
            "[[shards]]",
            f'name = "shard-{i:02d}"',
            f'primary = "{url.render_as_string(hide_password=False)}"',
            f"ranges = {{ user = [{i * step}, {(i + 1) * step}] }}",
            "",
        ]
    path = directory / f"bench-{len(shards)}.toml"
    path.write_text("\n".join(lines))
    return path


def sequential_alembic(shards: list[sa.URL]) -> float:
    """Plain Alembic, shard after shard."""
    start = time.perf_counter()
    for url in shards:
        engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
        with engine.connect() as conn:
            command.upgrade(alembic_config("oltp", connection=conn), "head")
            conn.commit()
        engine.dispose()
    return time.perf_counter() - start


def lmsdb_run(topology_path: Path, parallel: int) -> float:
    """``lmsdb migrate up --parallel N`` through the library (what the command calls)."""
    topology = load_topology(topology_path)
    request = MigrateRequest(policy=FanoutPolicy(parallel=parallel))
    start = time.perf_counter()
    run = migrate_fleet(topology, request)
    seconds = time.perf_counter() - start
    if not run.ok:
        raise SystemExit(f"benchmark run failed: {[r.error for r in run.results if r.failed]}")
    return seconds


def measure(
    catalog: sa.URL, shards: list[sa.URL], parallel: int, tmp: Path, repeat: int
) -> dict[str, float]:
    """The three legs on fresh databases, interleaved ``repeat`` times; the median of each."""
    topology = write_topology(catalog, shards, tmp)
    runs: dict[str, list[float]] = {}
    for _ in range(repeat):
        legs: list[tuple[str, Callable[[], float]]] = [
            ("sequential alembic", partial(sequential_alembic, shards)),
            ("lmsdb --parallel 1", partial(lmsdb_run, topology, 1)),
            (f"lmsdb --parallel {parallel}", partial(lmsdb_run, topology, parallel)),
        ]
        for leg, run in legs:
            recreate([catalog, *shards])
            runs.setdefault(leg, []).append(run())
    drop([catalog, *shards])
    for leg, times in runs.items():
        print(f"  {leg}: " + ", ".join(f"{t:.2f}s" for t in times))
    return {leg: statistics.median(times) for leg, times in runs.items()}


def report(title: str, legs: dict[str, float], shards: int, parallel: int) -> None:
    print(f"\n{title}")
    for leg, seconds in legs.items():
        print(f"{leg:>24}: {seconds:6.2f}s  ({shards / seconds:5.2f} shards/s)")
    base, one = legs["sequential alembic"], legs["lmsdb --parallel 1"]
    many = legs[f"lmsdb --parallel {parallel}"]
    print(f"speed-up --parallel {parallel} vs --parallel 1: {one / many:.2f}x")
    print(f"speed-up --parallel {parallel} vs sequential alembic: {base / many:.2f}x")
    print(f"lmsdb --parallel 1 time / sequential alembic time: {one / base:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--url",
        default="mysql+pymysql://root@127.0.0.1:3306",
        help="MariaDB service URL (no database)",
    )
    parser.add_argument("--shards", type=int, default=16)
    parser.add_argument("--parallel", type=int, default=8)
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="run each leg this many times (interleaved); report the median",
    )
    parser.add_argument(
        "--servers",
        type=int,
        default=4,
        help="extra mariadbd servers for the second layout (0: skip it)",
    )
    args = parser.parse_args()
    service = sa.make_url(args.url)
    catalog = service.set(database=f"{PREFIX}_catalog")
    print(
        f"machine: {platform.platform()}, {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}; command: {' '.join(sys.argv)}"
    )
    with tempfile.TemporaryDirectory() as tmp_name, ExitStack() as stack:
        tmp = Path(tmp_name)
        # Warm-up (imports, the worker-process server) outside the timings.
        warm = [service.set(database=n) for n in _names(2)]
        recreate([catalog, *warm])
        lmsdb_run(write_topology(catalog, warm, tmp), 2)
        drop([catalog, *warm])
        one_server = [service.set(database=n) for n in _names(args.shards)]
        legs = measure(catalog, one_server, args.parallel, tmp, args.repeat)
        report(
            f"{args.shards} shard databases on one MariaDB server ({service})",
            legs,
            args.shards,
            args.parallel,
        )
        if args.servers > 0:
            servers = []
            for i in range(args.servers):
                server = start_mariadbd(tmp, f"server{i}", 100 + i, primary=True)
                stack.callback(server.stop)
                servers.append(server)
            spread = [
                servers[i % len(servers)].url(name) for i, name in enumerate(_names(args.shards))
            ]
            legs = measure(catalog, spread, args.parallel, tmp, args.repeat)
            report(
                f"{args.shards} shards spread over {args.servers} mariadbd servers "
                "(started here, same machine)",
                legs,
                args.shards,
                args.parallel,
            )


if __name__ == "__main__":
    main()
