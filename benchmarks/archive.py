"""Benchmark: archive N of M enrollments (with their progress and attempts), side by side.

On fresh copies of the same data (MariaDB on 127.0.0.1:3306, root without password), in one
run, three legs:

1. ``lmsdb archive run`` (library call, verification on: upload with SHA-256, HEAD + read
   back, guarded delete) to moto's S3 server on loopback;
2. pt-archiver 3.2.1 (if installed) ``--file ... --limit 1000 --commit-each --bulk-delete``,
   once per table, children first as a DBA would to keep them, then the same upload of its
   TSV files to the same S3 server;
3. a bare chunked ``DELETE`` of the same enrollments, 1000 at a time along the primary key
   (the cascade takes the children): the floor no archiver avoids;
4. when mysqlclient (the ``fast`` extra) is installed, ``lmsdb-pymysql``: leg 1 with the
   pure-Python driver only, as on a machine without it.

Each leg runs in its own process (peak RSS and client CPU are that process's).  Prints
rows/s per leg, the ratios and the bytes stored.  Run from the repository root::

    python benchmarks/archive.py                            # 20,000 enrollments, 40% archived
    python benchmarks/archive.py --enrollments 1000000      # the issue's size (slow to build)
    python benchmarks/archive.py --enrollments 200000 --legs lmsdb   # memory trend only
    python benchmarks/archive.py --enrollments 1000000 --server-cpus 0   # server on CPU 0

``--server-cpus`` pins the local server's threads to those CPUs and the benchmark (the legs,
pt-archiver, moto's S3 server) to the others, as on a fleet where the tool and the object
store run on other hosts than the database; without it all share every CPU.

docs/benchmarks.md records the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.cpu_split import server_on_own_cpus  # noqa: E402
from benchmarks.peak_rss import peak_rss_kib, process_cpu_s, self_cpu_s  # noqa: E402

SERVER = "mysql+pymysql://root@127.0.0.1:3306"
CUTOFF = "2023-01-01"


def build(db: str, enrollments: int, share: float) -> int:
    """A shard database with the schema and the data; returns the parent rows to archive."""
    from lms_db.schema.ddl import create_schema

    admin = sa.create_engine(f"{SERVER}/mysql")
    with admin.begin() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {db} CHARACTER SET utf8mb4")
    admin.dispose()
    engine = sa.create_engine(f"{SERVER}/{db}")
    period = 100
    cut = int(share * period)
    with engine.begin() as conn:
        create_schema(conn)
        conn.exec_driver_sql("SET unique_checks = 0, foreign_key_checks = 0")
        conn.exec_driver_sql(
            f"INSERT INTO users (id, uuid, email, password_hash, first_name, last_name) "
            f"SELECT seq, LPAD(seq, 36, '0'), CONCAT('u', seq, '@example.com'), 'x', "
            f"'Zoë', 'L' FROM seq_1_to_{enrollments}"
        )
        conn.exec_driver_sql(
            f"INSERT INTO enrollments (id, user_id, course_id, status, progress_percentage, "
            f"completed_at, enrolled_at, total_watch_time_seconds) "
            f"SELECT seq, seq, 1, IF(seq %% {period} < {cut}, 'completed', 'active'), 99.50, "
            f"IF(seq %% {period} < {cut}, '2021-01-01' + INTERVAL (seq %% 10000) MINUTE, NULL), "
            f"'2020-06-01', seq * 7 FROM seq_1_to_{enrollments}"
        )
        conn.exec_driver_sql(
            "INSERT INTO lesson_progress (id, user_id, lesson_id, enrollment_id, status, "
            "progress_percentage, user_notes, completed_at) "
            "SELECT e.id * 2 + k.seq, e.user_id, k.seq + 1, e.id, 'completed', 100.00, "
            "'notes \U0001f680 ∑', e.completed_at FROM enrollments e JOIN seq_0_to_1 k"
        )
        conn.exec_driver_sql(
            "INSERT INTO quiz_attempts (id, quiz_id, user_id, enrollment_id, attempt_number, "
            "answers, total_points, earned_points, passed, started_at) "
            'SELECT id, 7, user_id, id, 1, \'[{"q": 1, "a": "\U0001f600", "pts": 1.5}]\', '
            "10.00, 7.25, 1, '2021-01-01' FROM enrollments"
        )
        total = conn.exec_driver_sql(
            f"SELECT COUNT(*) FROM enrollments WHERE status = 'completed' "
            f"AND completed_at < '{CUTOFF}'"
        ).scalar_one()
    engine.dispose()
    return int(total)


def drop(*dbs: str) -> None:
    admin = sa.create_engine(f"{SERVER}/mysql")
    with admin.begin() as conn:
        for db in dbs:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {db}")
    admin.dispose()


def leg_lmsdb(
    db: str, s3_url: str, bucket: str, chunk: int, reader: str = "auto"
) -> dict[str, Any]:
    from lms_db.archive.runner import ArchiveRequest, run_archive
    from lms_db.catalog import seed_from_topology
    from lms_db.topology.spec import load_topology

    work = Path(tempfile.mkdtemp())
    catalog = f"{db}_cat"
    admin = sa.create_engine(f"{SERVER}/mysql")
    with admin.begin() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {catalog}")
    admin.dispose()
    path = work / "topology.toml"
    path.write_text(
        f'[archive]\nendpoint_url = "{s3_url}"\nregion = "us-east-1"\n\n'
        f'[catalog]\nurl = "{SERVER}/{catalog}"\n\n[[shards]]\nname = "shard-0"\n'
        f'primary = "{SERVER}/{db}"\nranges = {{ user = [0, 100000000], '
        f"course = [0, 100000] }}\n",
        encoding="utf-8",
    )
    topology = load_topology(path)
    engine = sa.create_engine(topology.catalog.url)
    seed_from_topology(engine, topology)
    engine.dispose()
    start = time.perf_counter()
    report = run_archive(
        topology,
        ArchiveRequest(
            table="enrollments",
            destination=f"s3://{bucket}/bench",
            status="completed",
            where=(("completed_at", "<", CUTOFF),),
            chunk_size=chunk,
            reader=reader,
        ),
    )
    seconds = time.perf_counter() - start
    drop(catalog)
    shutil.rmtree(work)
    [shard] = report.shards
    assert shard.state == "done", shard.error
    return {"seconds": seconds, "rows": sum(shard.rows.values()), "bytes": shard.bytes}


def leg_pt_archiver(db: str, s3_url: str, bucket: str, chunk: int) -> dict[str, Any]:
    import boto3

    work = Path(tempfile.mkdtemp())
    parents = f"status = 'completed' AND completed_at < '{CUTOFF}'"
    children = f"enrollment_id IN (SELECT id FROM enrollments WHERE {parents})"
    rows = 0
    start = time.perf_counter()
    for table, where in (
        ("lesson_progress", children),
        ("quiz_attempts", children),
        ("enrollments", parents),
    ):
        out = subprocess.run(
            [
                "pt-archiver",
                "--source",
                f"h=127.0.0.1,P=3306,u=root,D={db},t={table},A=utf8mb4",
                "--file",
                str(work / "%D.%t.tsv"),
                "--where",
                where,
                "--limit",
                str(chunk),
                "--commit-each",
                "--bulk-delete",
                "--statistics",
                "--no-safe-auto-increment",
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        for line in out.stdout.splitlines():
            if line.startswith("DELETE "):
                rows += int(line.split()[1])
    client = boto3.client("s3", endpoint_url=s3_url, region_name="us-east-1")
    size = 0
    for file in sorted(work.iterdir()):
        client.upload_file(str(file), bucket, f"pt/{file.name}")
        size += file.stat().st_size
    seconds = time.perf_counter() - start
    shutil.rmtree(work)
    return {"seconds": seconds, "rows": rows, "bytes": size}


def leg_delete(db: str, s3_url: str, bucket: str, chunk: int) -> dict[str, Any]:
    engine = sa.create_engine(f"{SERVER}/{db}")
    rows = 0
    start = time.perf_counter()
    with engine.connect() as conn:
        counted = conn.exec_driver_sql(
            f"SELECT (SELECT COUNT(*) FROM enrollments WHERE status = 'completed' AND "
            f"completed_at < '{CUTOFF}') * 4"
        ).scalar_one()
        conn.commit()
        # Walk the primary key, chunk after chunk: `DELETE ... WHERE <filter> ORDER BY id
        # LIMIT n` alone makes MariaDB read the status index from its start every time, a
        # cost that grows with the run (14,306 rows/s at 1,000,000 enrollments).
        last = 0
        where = f"status = 'completed' AND completed_at < '{CUTOFF}'"
        while True:
            with conn.begin():
                upto = conn.exec_driver_sql(
                    f"SELECT id FROM enrollments FORCE INDEX (PRIMARY) WHERE id > {last} "
                    f"AND {where} ORDER BY id LIMIT 1 OFFSET {chunk - 1}"
                ).scalar()
                top = f" AND id <= {upto}" if upto is not None else ""
                deleted = conn.exec_driver_sql(
                    f"DELETE FROM enrollments WHERE id > {last}{top} AND {where}"
                ).rowcount
            rows += deleted
            if upto is None:
                break
            last = int(upto)
    seconds = time.perf_counter() - start
    engine.dispose()
    return {"seconds": seconds, "rows": int(counted), "bytes": 0}


def leg_lmsdb_pymysql(db: str, s3_url: str, bucket: str, chunk: int) -> dict[str, Any]:
    """lmsdb with the pure-Python driver only (what a machine without the fast extra runs)."""
    return leg_lmsdb(db, s3_url, bucket, chunk, reader="pymysql")


LEGS = {
    "lmsdb": leg_lmsdb,
    "lmsdb-pymysql": leg_lmsdb_pymysql,
    "pt-archiver": leg_pt_archiver,
    "delete": leg_delete,
}


def run_leg(
    leg: str, enrollments: int, share: float, chunk: int, s3_url: str, bucket: str
) -> dict[str, Any]:
    db = f"lmsdb_bench_arch_{uuid.uuid4().hex[:8]}"
    try:
        build(db, enrollments, share)
        server_before, s3_before = process_cpu_s("mariadbd"), self_cpu_s()
        out = subprocess.run(
            [
                sys.executable,
                __file__,
                "--leg",
                leg,
                "--db",
                db,
                "--s3",
                s3_url,
                "--bucket",
                bucket,
                "--chunk-size",
                str(chunk),
            ],
            capture_output=True,
            text=True,
            cwd=ROOT,
            check=False,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        server_after, s3_after = process_cpu_s("mariadbd"), self_cpu_s()
        if out.returncode != 0:
            raise SystemExit(f"{leg} failed: {out.stderr[-2000:]}")
        result = dict(json.loads(out.stdout.strip().splitlines()[-1]))
        # The other two processes' shares: the database server (when it runs here) and
        # this process, whose only work during the leg is moto's S3 server thread.
        if server_before is not None and server_after is not None:
            result["server_cpu_s"] = server_after - server_before
        result["s3_cpu_s"] = s3_after - s3_before
        return result
    finally:
        drop(db)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--enrollments", type=int, default=20_000)
    parser.add_argument("--share", type=float, default=0.4, help="fraction archived")
    parser.add_argument("--chunk-size", type=int, default=1000)
    parser.add_argument("--leg", choices=sorted(LEGS))
    parser.add_argument(
        "--legs",
        help="comma-separated legs to run (default: all); e.g. lmsdb for the memory trend",
    )
    parser.add_argument(
        "--server-cpus",
        help="comma-separated CPUs for the database server alone (e.g. 0); the rest run "
        "the legs and the S3 server (default: all share every CPU)",
    )
    parser.add_argument("--db")
    parser.add_argument("--s3")
    parser.add_argument("--bucket")
    args = parser.parse_args()
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    if args.leg:  # a child process: one leg on a prepared database
        result = LEGS[args.leg](args.db, args.s3, args.bucket, args.chunk_size)
        usage = resource.getrusage(resource.RUSAGE_SELF)
        children = resource.getrusage(resource.RUSAGE_CHILDREN)  # pt-archiver's perl
        result["max_rss_mib"] = peak_rss_kib(usage) / 1024
        # Client CPU (this process and its children): what the load on a shared machine
        # distorts least; the server's share is not in it.
        result["cpu_s"] = sum(u.ru_utime + u.ru_stime for u in (usage, children))
        print(json.dumps(result))
        return

    with ExitStack() as stack:
        if args.server_cpus:
            cpus = {int(c) for c in args.server_cpus.split(",")}
            split = stack.enter_context(server_on_own_cpus(f"{SERVER}/mysql", cpus))
            print(f"CPUs: server {split['server']}, benchmark {split['client']}", flush=True)
        _run_legs(args)


def _run_legs(args: argparse.Namespace) -> None:
    import boto3
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    s3_url = f"http://{host}:{port}"
    bucket = f"bench-{uuid.uuid4().hex[:8]}"
    boto3.client("s3", endpoint_url=s3_url, region_name="us-east-1").create_bucket(Bucket=bucket)
    from lms_db.fleet.rawread import mysqlclient_available

    legs = ["lmsdb"] + (["lmsdb-pymysql"] if mysqlclient_available() else [])
    legs += ["delete"] + (["pt-archiver"] if shutil.which("pt-archiver") else [])
    if args.legs:
        legs = [leg for leg in legs if leg in args.legs.split(",")]
    results = {}
    try:
        for leg in legs:
            results[leg] = run_leg(
                leg, args.enrollments, args.share, args.chunk_size, s3_url, bucket
            )
            r = results[leg]
            print(
                f"{leg:13} {r['rows']:>9} rows {r['seconds']:8.2f} s "
                f"{r['rows'] / r['seconds']:>9,.0f} rows/s  stored {r['bytes']:>11,} B  "
                f"peak RSS {r['max_rss_mib']:.0f} MiB  CPU s: client {r['cpu_s']:.2f}, "
                f"server {r.get('server_cpu_s', float('nan')):.2f}, S3 {r['s3_cpu_s']:.2f}",
                flush=True,
            )
    finally:
        server.stop()
    if "lmsdb" not in results or "delete" not in results:
        return
    lms = results["lmsdb"]
    rate = lms["rows"] / lms["seconds"]
    floor = results["delete"]["rows"] / results["delete"]["seconds"]
    print(f"lmsdb / bare DELETE rate: {rate / floor:.2f}x")
    if "lmsdb-pymysql" in results:
        slow = results["lmsdb-pymysql"]
        print(
            f"lmsdb (mysqlclient) / lmsdb (PyMySQL): {rate / (slow['rows'] / slow['seconds']):.2f}x"
        )
    if "pt-archiver" in results:
        pt = results["pt-archiver"]
        print(
            f"lmsdb / pt-archiver rate: {rate / (pt['rows'] / pt['seconds']):.2f}x; "
            f"bytes stored lmsdb / pt-archiver TSV: {lms['bytes'] / pt['bytes']:.3f}"
        )
    else:
        print("pt-archiver: not installed (apt-get install percona-toolkit), leg skipped")


if __name__ == "__main__":
    main()
