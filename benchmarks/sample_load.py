"""Sample-load rate on the local MariaDB: rows per second through ``load_sample``.

Creates four shard databases and a catalog on the server (dropped afterwards), builds the
schema, loads ``--users``/``--courses`` and prints the rate, per-table rows and the machine.

    python benchmarks/sample_load.py --users 20000 --courses 400
    python benchmarks/sample_load.py --url mysql+pymysql://root@127.0.0.1:3306 --json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import uuid
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lms_db.catalog import seed_from_topology
from lms_db.ddl import create_schema
from lms_db.routing import Router
from lms_db.sample import load_sample
from lms_db.topology import load_topology

SHARDS = 4
USER_RANGE, COURSE_RANGE = 1_000_000, 10_000


def machine() -> str:
    """CPU model, cores and memory of this machine, one line."""
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
        kib = int(Path("/proc/meminfo").read_text().split()[1])
        memory = f"{kib / 1024 / 1024:.0f} GiB"
    except OSError:
        memory = "?"
    return f"{model}, {os.cpu_count()} cores, {memory}, {platform.system()} {platform.release()}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="mysql+pymysql://root@127.0.0.1:3306",
                        help="MariaDB server URL (no database)")
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--courses", type=int, default=400)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args()

    base = sa.engine.make_url(args.url)
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
            url = base.set(database=name).render_as_string(hide_password=False)
            lines += ["[[shards]]", f'name = "shard-{i}"', f'primary = "{url}?charset=utf8mb4"',
                      f"ranges = {{ user = [{i * USER_RANGE}, {(i + 1) * USER_RANGE}], "
                      f"course = [{i * COURSE_RANGE}, {(i + 1) * COURSE_RANGE}] }}"]
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
                result = load_sample(router, users=args.users, courses=args.courses,
                                     seed=args.seed)
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
    report = {
        "command": " ".join(["python", *sys.argv]), "machine": machine(),
        "server": f"MariaDB {version}", "shards": SHARDS, "users": args.users,
        "courses": args.courses, "rows": result.total_rows,
        "seconds": round(result.seconds, 2), "rows_per_second": round(result.rows_per_second),
        "rows_per_table": dict(sorted(per_table.items(), key=lambda kv: -kv[1])),
    }
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(f"{report['rows']:,} rows in {report['seconds']} s: "
              f"{report['rows_per_second']:,} rows/s ({report['server']}, {SHARDS} shards)")
        print(f"machine: {report['machine']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
