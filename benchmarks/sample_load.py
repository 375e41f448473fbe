"""Sample-load rate on the local MariaDB: rows per second through ``load_sample``.

Creates four shard databases and a catalog on the server (dropped afterwards), builds the
schema, loads ``--users``/``--courses`` and prints the rate, per-table rows and the machine.
``--runs N`` repeats that on fresh databases and prints the median; ``--baseline DIR`` also
runs another source tree's copy of this script (an older lmsdb, e.g. unpacked with
``git archive <commit> | tar -x -C DIR``) before each run, so both are measured in turns
under the same conditions.

    python benchmarks/sample_load.py --users 20000 --courses 400
    python benchmarks/sample_load.py --runs 5 --baseline /tmp/before
    python benchmarks/sample_load.py --url mysql+pymysql://root@127.0.0.1:3306 --json
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.machine import machine
from lms_db.catalog import seed_from_topology
from lms_db.router import Router
from lms_db.sample import load_sample
from lms_db.schema.ddl import create_schema
from lms_db.topology.spec import load_topology

SHARDS = 4
USER_RANGE, COURSE_RANGE = 1_000_000, 10_000


def run_once(url: str, users: int, courses: int, seed: int) -> dict[str, Any]:
    """One load into fresh databases (dropped afterwards): the figures of the run."""
    base = sa.engine.make_url(url)
    tag = uuid.uuid4().hex[:8]
    names = [f"lmsdb_bench_{tag}_{i}" for i in range(SHARDS)] + [f"lmsdb_bench_{tag}_cat"]
    admin = sa.create_engine(base.set(database="mysql"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        version = conn.exec_driver_sql("SELECT VERSION()").scalar()
        for name in names:
            conn.exec_driver_sql(f"CREATE DATABASE {name} CHARACTER SET utf8mb4")
    try:
        lines = ["[catalog]", f'url = "{base.set(database=names[-1])}?charset=utf8mb4"']
        for i, name in enumerate(names[:SHARDS]):
            shard_url = base.set(database=name).render_as_string(hide_password=False)
            lines += [
                "[[shards]]",
                f'name = "shard-{i}"',
                f'primary = "{shard_url}?charset=utf8mb4"',
                f"ranges = {{ user = [{i * USER_RANGE}, {(i + 1) * USER_RANGE}], "
                f"course = [{i * COURSE_RANGE}, {(i + 1) * COURSE_RANGE}] }}",
            ]
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "bench.toml"
            path.write_text("\n".join(lines) + "\n")
            topology = load_topology(path)
            for spec in topology.shards:
                engine = sa.create_engine(spec.primary.url)
                with engine.begin() as conn:
                    create_schema(conn)
                engine.dispose()
            catalog = sa.create_engine(topology.catalog.url)
            seed_from_topology(catalog, topology)
            with Router(catalog, topology) as router:
                result = load_sample(router, users=users, courses=courses, seed=seed)
            catalog.dispose()
    finally:
        with admin.connect() as conn:
            for name in names:
                conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}")
        admin.dispose()

    per_table: dict[str, int] = {}
    for tables in result.rows.values():
        for table, n in tables.items():
            per_table[table] = per_table.get(table, 0) + n
    return {
        "server": f"MariaDB {version}",
        "rows": result.total_rows,
        "seconds": round(result.seconds, 2),
        "rows_per_second": round(result.rows_per_second),
        "rows_per_table": dict(sorted(per_table.items(), key=lambda kv: -kv[1])),
    }


def run_baseline(tree: Path, args: argparse.Namespace) -> dict[str, Any]:
    """One run of ``tree``'s own copy of this script (its code, in a process of its own)."""
    script = tree / "benchmarks" / "sample_load.py"
    done = subprocess.run(
        [
            sys.executable,
            str(script),
            "--json",
            "--url",
            args.url,
            "--users",
            str(args.users),
            "--courses",
            str(args.courses),
            "--seed",
            str(args.seed),
        ],
        capture_output=True,
        text=True,
        check=True,
        cwd=tree,
    )
    report: dict[str, Any] = json.loads(done.stdout)
    return report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--url",
        default="mysql+pymysql://root@127.0.0.1:3306",
        help="MariaDB server URL (no database)",
    )
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--courses", type=int, default=400)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--runs", type=int, default=1, help="loads to make (median reported)")
    parser.add_argument(
        "--baseline",
        type=Path,
        metavar="DIR",
        help="another lmsdb source tree to measure in turns with this one",
    )
    parser.add_argument(
        "--pause", type=float, default=3.0, help="seconds to let the server settle between loads"
    )
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args()
    if args.baseline is not None and not (args.baseline / "benchmarks").is_dir():
        parser.error(f"--baseline {args.baseline}: not an lmsdb source tree")

    runs: list[dict[str, Any]] = []
    baseline: list[dict[str, Any]] = []
    for _ in range(max(1, args.runs)):
        if args.baseline is not None:
            if runs:
                time.sleep(args.pause)
            baseline.append(run_baseline(args.baseline, args))
            time.sleep(args.pause)
        elif runs:
            time.sleep(args.pause)
        runs.append(run_once(args.url, args.users, args.courses, args.seed))

    last = runs[-1]
    report: dict[str, Any] = {
        "command": " ".join(["python", *sys.argv]),
        "machine": machine(),
        "server": last["server"],
        "shards": SHARDS,
        "users": args.users,
        "courses": args.courses,
        "rows": last["rows"],
        "seconds": last["seconds"],
        "rows_per_second": last["rows_per_second"],
        "rows_per_table": last["rows_per_table"],
    }
    if len(runs) > 1 or baseline:
        report["runs"] = [
            {"seconds": r["seconds"], "rows_per_second": r["rows_per_second"]} for r in runs
        ]
        report["median_rows_per_second"] = round(
            statistics.median(r["rows_per_second"] for r in runs)
        )
    if baseline:
        report["baseline"] = {
            "tree": str(args.baseline),
            "runs": [
                {"seconds": r["seconds"], "rows_per_second": r["rows_per_second"]} for r in baseline
            ],
            "median_rows_per_second": round(
                statistics.median(r["rows_per_second"] for r in baseline)
            ),
        }
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"{report['rows']:,} rows, {report['server']}, {SHARDS} shards")
    print(f"machine: {report['machine']}")
    if len(runs) == 1 and not baseline:
        print(f"{report['seconds']} s: {report['rows_per_second']:,} rows/s")
        return 0
    head = "| run | " + ("baseline s | baseline rows/s | " if baseline else "") + "s | rows/s |"
    print(head)
    print("|" + " --- |" * (head.count("|") - 1))
    for i, run in enumerate(runs):
        cells = [str(i + 1)]
        if baseline:
            cells += [f"{baseline[i]['seconds']:.2f}", f"{baseline[i]['rows_per_second']:,}"]
        cells += [f"{run['seconds']:.2f}", f"{run['rows_per_second']:,}"]
        print("| " + " | ".join(cells) + " |")
    if baseline:
        print(
            f"median: baseline {report['baseline']['median_rows_per_second']:,} rows/s, "
            f"this tree {report['median_rows_per_second']:,} rows/s"
        )
    else:
        print(f"median: {report['median_rows_per_second']:,} rows/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
