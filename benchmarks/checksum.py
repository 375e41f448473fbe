"""Benchmark: chunked checksum throughput per side, lmsdb against pt-table-checksum's CRC32.

On one table shaped like research §8's ``submissions`` (BIGINT key, three BIGINTs, a
TINYINT, a DECIMAL with 10% NULLs, two DATETIME(6), a ~150-byte utf8mb4 body), in one run:

MariaDB (the service on 127.0.0.1:3306):
1. ``BIT_XOR(CRC32(CONCAT_WS('#', ...)))`` + ``COUNT(*)`` per chunk (pt-table-checksum's
   default; blind to an even-row rewrite, shown in tests/backend/test_checksum.py);
2. ``BIT_XOR(MD5 -> 64 bits)`` + ``COUNT(*)`` (research §8's one-lane MD5);
3. lmsdb ``checksum_chunks`` (two lanes, canonical encoding), and ``chunk_boundaries``;
4. lmsdb with ``method=python`` (rows streamed and hashed in Python).

PostgreSQL (127.0.0.1:5432): lmsdb server-side and Python.  SQLite: lmsdb (Python).

Every leg reads the same chunks (``--chunk-rows``).  Run it from the repository root::

    python benchmarks/checksum.py                       # 200,000 rows, 10,000-row chunks
    python benchmarks/checksum.py --rows 50000 --backends mariadb

It prints the best of three runs per leg in seconds and rows/s, and each leg's ratio to
lmsdb's; docs/benchmarks.md records the figures.  The machine is shared: re-measure on a
quiet one before quoting them.
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
import tracemalloc
import uuid
from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lms_db.moves.checksum import METHOD_PYTHON, checksum_chunks, chunk_boundaries

MARIADB = "mysql+pymysql://root@127.0.0.1:3306/mysql?charset=utf8mb4"
POSTGRESQL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"

md = sa.MetaData()
submissions = sa.Table(
    "submissions",
    md,
    sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("user_id", sa.BigInteger, nullable=False),
    sa.Column("course_id", sa.BigInteger, nullable=False),
    sa.Column("lesson_id", sa.BigInteger, nullable=False),
    sa.Column("status", sa.SmallInteger, nullable=False),
    sa.Column("score", sa.Numeric(6, 2), nullable=True),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=False),
    sa.Column("body", sa.String(255), nullable=False),
    mariadb_charset="utf8mb4",
    mysql_charset="utf8mb4",
)

# Generated server-side: the load is not what is measured.
FILL = {
    "mariadb": (
        "INSERT INTO submissions SELECT seq, seq % 50000, seq % 400, seq % 9000, seq % 5, "
        "IF(seq % 10 = 0, NULL, (seq % 10000) / 100), "
        "TIMESTAMP'2026-01-01 00:00:00' + INTERVAL seq SECOND, "
        "TIMESTAMP'2026-01-01 00:00:00.5' + INTERVAL seq SECOND, "
        "CONCAT('answer ', seq, ' ', REPEAT('é', 60), ' ', MD5(seq), MD5(seq + 1)) "
        "FROM seq_1_to_{rows}"
    ),
    "postgresql": (
        "INSERT INTO submissions SELECT s, s % 50000, s % 400, s % 9000, s % 5, "
        "CASE WHEN s % 10 = 0 THEN NULL ELSE (s % 10000) / 100.0 END, "
        "TIMESTAMP '2026-01-01' + s * INTERVAL '1 second', "
        "TIMESTAMP '2026-01-01 00:00:00.5' + s * INTERVAL '1 second', "
        "'answer ' || s || ' ' || repeat('é', 60) || ' ' || md5(s::text) || md5((s + 1)::text) "
        "FROM generate_series(1, {rows}) s"
    ),
    "sqlite": (
        "WITH RECURSIVE seq(s) AS (SELECT 1 UNION ALL SELECT s + 1 FROM seq WHERE s < {rows}) "
        "INSERT INTO submissions SELECT s, s % 50000, s % 400, s % 9000, s % 5, "
        "CASE WHEN s % 10 = 0 THEN NULL ELSE (s % 10000) / 100.0 END, "
        "datetime('2026-01-01', '+' || s || ' seconds'), "
        "datetime('2026-01-01', '+' || s || ' seconds'), "
        "'answer ' || s || ' ' || hex(randomblob(70)) FROM seq"
    ),
}

CRC32 = (
    "SELECT COUNT(*), BIT_XOR(CAST(CRC32(CONCAT_WS('#', id, user_id, course_id, lesson_id, "
    "status, score, created_at, updated_at, body, ISNULL(score))) AS UNSIGNED)) "
    "FROM submissions WHERE id > :after AND id <= :upto"
)
MD5_ONE_LANE = (
    "SELECT COUNT(*), BIT_XOR(CAST(CONV(LEFT(MD5(CONCAT_WS('#', id, user_id, "
    "course_id, lesson_id, status, score, created_at, updated_at, body, "
    "ISNULL(score))), 16), 16, 10) AS UNSIGNED)) "
    "FROM submissions WHERE id > :after AND id <= :upto"
)


REPEAT = 3


def timed(label: str, rows: int, fn: Callable[[], object], repeat: int = REPEAT) -> float:
    """Best of ``repeat`` runs (the machine is shared: the best is the least disturbed)."""
    seconds = float("inf")
    for _ in range(max(1, repeat)):
        start = time.perf_counter()
        fn()
        seconds = min(seconds, time.perf_counter() - start)
    print(f"  {label:<44} {seconds:7.2f} s  {rows / seconds:>10,.0f} rows/s", flush=True)
    return seconds


def run_backend(backend: str, url: sa.URL, rows: int, chunk_rows: int, repeat: int) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        submissions.create(conn)
        conn.execute(sa.text(FILL[backend].format(rows=rows)))
    print(f"{backend}: {rows:,} rows, chunks of {chunk_rows:,}", flush=True)
    with engine.connect() as conn:
        bounds = chunk_boundaries(conn, submissions, None, chunk_rows)

        def lmsdb(method: str | None = None) -> object:
            return checksum_chunks(conn, submissions, None, bounds, method=method)

        def raw(sql: str) -> object:
            statement = sa.text(sql)
            return [
                conn.execute(
                    statement,
                    {
                        "after": 0 if b.after is None else b.after[0],
                        "upto": 2**62 if b.upto is None else b.upto[0],
                    },
                ).one()
                for b in bounds
            ]

        legs: list[tuple[str, str, Callable[[], object]]] = [
            (
                "boundaries",
                "lmsdb chunk_boundaries",
                lambda: chunk_boundaries(conn, submissions, None, chunk_rows),
            ),
        ]
        if backend == "mariadb":
            legs += [
                ("crc32", "BIT_XOR(CRC32) (pt-table-checksum)", lambda: raw(CRC32)),
                ("md5", "BIT_XOR(MD5->64), one lane", lambda: raw(MD5_ONE_LANE)),
            ]
        if backend != "sqlite":
            legs.append(("lmsdb", "lmsdb checksum_chunks (server-side)", lmsdb))
        legs.append(("python", "lmsdb checksum_chunks method=python", lambda: lmsdb(METHOD_PYTHON)))
        results = {key: timed(label, rows, fn, repeat) for key, label, fn in legs}
        # Bounded memory of the streamed path: Python's peak allocation while it runs.
        tracemalloc.start()
        lmsdb(METHOD_PYTHON)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        print(f"  method=python peak Python memory: {peak / 1024:,.0f} KiB", flush=True)
    base = results.get("lmsdb", results["python"])
    print(
        "  ratios (leg time / lmsdb time): "
        + ", ".join(f"{k} {v / base:.2f}x" for k, v in results.items()),
        flush=True,
    )
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--chunk-rows", type=int, default=10_000)
    parser.add_argument("--backends", default="mariadb,postgresql,sqlite")
    parser.add_argument("--repeat", type=int, default=REPEAT, help="runs per leg (best kept)")
    args = parser.parse_args()
    print(
        f"{platform.node()} {platform.processor() or platform.machine()}, "
        f"python {platform.python_version()}",
        flush=True,
    )
    name = f"lmsdb_bench_ck_{uuid.uuid4().hex[:8]}"
    for backend in args.backends.split(","):
        if backend == "sqlite":
            with tempfile.TemporaryDirectory() as tmp:
                run_backend(
                    backend,
                    sa.engine.make_url(f"sqlite:///{tmp}/bench.db"),
                    args.rows,
                    args.chunk_rows,
                    args.repeat,
                )
            continue
        server = sa.engine.make_url(MARIADB if backend == "mariadb" else POSTGRESQL)
        admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.exec_driver_sql(f"CREATE DATABASE {name}")
        try:
            run_backend(backend, server.set(database=name), args.rows, args.chunk_rows, args.repeat)
        finally:
            with admin.connect() as conn:
                force = " WITH (FORCE)" if backend == "postgresql" else ""
                conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}{force}")
            admin.dispose()


if __name__ == "__main__":
    main()
