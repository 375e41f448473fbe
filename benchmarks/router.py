"""Router lookup rate and map read time, at a few ranges and at 10,000 ranges per keyspace.

Builds a SQLite catalog in a temporary directory (4 shards), rewrites its shard map into
``--ranges`` contiguous ranges per keyspace (round robin over the shards), then measures in
one process:

- ``Router.shard_for`` calls per second over random keys (default staleness bound: the
  clock is read on every call, the catalog's version once a second),
- ``ShardMap.find`` lookups per second on the same keys,
- milliseconds to read a changed map (``Router.refresh`` after a version bump: the map and
  the shard locations, as a Router does when the version moved).

Each measurement runs in a subprocess of its own that imports lmsdb from ``--code`` (default:
this checkout).  ``--baseline DIR`` measures another source tree (an older lmsdb, e.g.
``git archive <commit> | tar -x -C DIR``) in turns with this one, under the same load.

    python benchmarks/router.py
    python benchmarks/router.py --ranges 3 --ranges 10000 --runs 3 --baseline /tmp/before
    python benchmarks/router.py --json
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(HERE))

from benchmarks.machine import machine  # noqa: E402 - after the path is set

SHARDS = 4
RANGE_SPAN = 1_000  # keys per range


def measure(
    ranges: int, calls: int, repeats: int, reads: int, clock: str = "wall"
) -> dict[str, Any]:
    """In this process, with the lmsdb on ``sys.path``: the figures at ``ranges`` ranges.

    ``clock="cpu"`` times with this process's CPU time instead of the wall clock, so other
    processes on a busy machine count less (they still share its caches).
    """
    now = time.process_time if clock == "cpu" else time.perf_counter
    import sqlalchemy as sa

    from lms_db.catalog import seed_from_topology
    from lms_db.catalog.schema import begin, shard_ranges
    from lms_db.catalog.shard_map import bump_map_version
    from lms_db.router import Router
    from lms_db.topology.spec import load_topology

    with tempfile.TemporaryDirectory(prefix="lmsdb-router-bench-") as tmp:
        lines = ["[catalog]", f'url = "sqlite:///{tmp}/catalog.db"']
        for i in range(SHARDS):
            lines += [
                "[[shards]]",
                f'name = "shard-{i}"',
                f'primary = "sqlite:///{tmp}/s{i}.db"',
                f"ranges = {{ user = [{i}, {i + 1}], course = [{i}, {i + 1}] }}",
            ]
        path = Path(tmp) / "topology.toml"
        path.write_text("\n".join(lines) + "\n")
        topology = load_topology(path)
        catalog = sa.create_engine(topology.catalog.url)
        seed_from_topology(catalog, topology)
        with begin(catalog) as conn:
            version = bump_map_version(conn)
            conn.execute(shard_ranges.delete())
            conn.execute(
                shard_ranges.insert(),
                [
                    {
                        "keyspace": keyspace,
                        "lo": i * RANGE_SPAN,
                        "hi": (i + 1) * RANGE_SPAN,
                        "shard": f"shard-{i % SHARDS}",
                        "state": "serving",
                        "map_version": version,
                    }
                    for keyspace in ("course", "user")
                    for i in range(ranges)
                ],
            )
        rng = random.Random(1)
        keys = [rng.randrange(ranges * RANGE_SPAN) for _ in range(calls)]
        with Router(catalog, topology) as router:
            shard_for = router.shard_for
            find = router.shard_map.find
            assert shard_for("user", keys[0]).shard == find("user", keys[0]).shard
            route_rates, find_rates = [], []
            for _ in range(repeats):
                started = now()
                for key in keys:
                    shard_for("user", key)
                route_rates.append(calls / (now() - started))
                started = now()
                for key in keys:
                    find("user", key)
                find_rates.append(calls / (now() - started))
            read_ms = []
            for _ in range(reads):
                with begin(catalog) as conn:
                    bump_map_version(conn)
                started = now()
                shard_map = router.refresh()
                read_ms.append((now() - started) * 1000)
            assert len(shard_map.ranges) == 2 * ranges
        catalog.dispose()
    return {
        "ranges_per_keyspace": ranges,
        "shard_for_per_second": round(statistics.median(route_rates)),
        "find_per_second": round(statistics.median(find_rates)),
        "read_changed_map_ms": round(statistics.median(read_ms), 1),
    }


def run_in_subprocess(code: Path, ranges: int, args: argparse.Namespace) -> dict[str, Any]:
    """One measurement by a fresh interpreter importing the lmsdb of ``code``."""
    done = subprocess.run(
        [
            sys.executable,
            str(Path(__file__).resolve()),
            "--worker",
            "--code",
            str(code),
            "--ranges",
            str(ranges),
            "--calls",
            str(args.calls),
            "--repeats",
            str(args.repeats),
            "--reads",
            str(args.reads),
            "--clock",
            args.clock,
        ],
        capture_output=True,
        text=True,
        cwd=code,
    )
    if done.returncode != 0:
        raise SystemExit(f"measuring {code} failed:\n{done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--ranges",
        type=int,
        action="append",
        help="ranges per keyspace (repeatable; default 3 and 10000)",
    )
    parser.add_argument("--calls", type=int, default=200_000, help="lookups per repeat")
    parser.add_argument("--repeats", type=int, default=5, help="repeats per measurement")
    parser.add_argument("--reads", type=int, default=5, help="changed-map reads to time")
    parser.add_argument(
        "--clock",
        choices=("wall", "cpu"),
        default="wall",
        help="time with the wall clock (default) or this process's CPU time (busy machines)",
    )
    parser.add_argument("--runs", type=int, default=1, help="measurements per tree (medians)")
    parser.add_argument(
        "--baseline",
        type=Path,
        metavar="DIR",
        help="another lmsdb source tree to measure in turns with this one",
    )
    parser.add_argument("--code", type=Path, default=HERE, help=argparse.SUPPRESS)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args()
    sizes = args.ranges or [3, 10_000]
    if args.worker:
        sys.path.insert(0, str(args.code.resolve()))
        print(json.dumps(measure(sizes[0], args.calls, args.repeats, args.reads, args.clock)))
        return 0
    if args.baseline is not None and not (args.baseline / "lms_db").is_dir():
        parser.error(f"--baseline {args.baseline}: not an lmsdb source tree")

    trees = {"this tree": HERE} | ({"baseline": args.baseline.resolve()} if args.baseline else {})
    samples: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for _ in range(max(1, args.runs)):
        for size in sizes:
            for name, code in trees.items():  # in turns, so drift hits both alike
                samples.setdefault((name, size), []).append(run_in_subprocess(code, size, args))
    rows = []
    for (name, size), runs in samples.items():
        rows.append(
            {
                "tree": name,
                "ranges_per_keyspace": size,
                **{
                    field: statistics.median(r[field] for r in runs)
                    for field in ("shard_for_per_second", "find_per_second", "read_changed_map_ms")
                },
            }
        )
    report = {
        "command": " ".join(["python", *sys.argv]),
        "machine": machine(),
        "python": platform.python_version(),
        "calls": args.calls,
        "runs": args.runs,
        "clock": args.clock,
        "results": rows,
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"machine: {report['machine']}, Python {report['python']}, clock: {args.clock}")
    print(
        "| tree | ranges per keyspace | shard_for calls/s | find lookups/s | read changed map ms |"
    )
    print("| --- | --- | --- | --- | --- |")
    for row in sorted(rows, key=lambda r: (r["tree"] != "baseline", r["ranges_per_keyspace"])):
        print(
            f"| {row['tree']} | {row['ranges_per_keyspace']:,} | "
            f"{row['shard_for_per_second']:,.0f} | {row['find_per_second']:,.0f} | "
            f"{row['read_changed_map_ms']:.1f} |"
        )
    for name in trees:
        rates = {
            r["ranges_per_keyspace"]: r["shard_for_per_second"] for r in rows if r["tree"] == name
        }
        if len(rates) > 1:
            low, high = min(rates), max(rates)
            print(
                f"{name}: shard_for at {high:,} ranges is "
                f"{rates[high] / rates[low]:.0%} of its rate at {low:,}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
