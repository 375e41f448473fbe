"""What the fence's ``BEFORE DELETE`` trigger costs the delete step of a move (#10).

Deletes ``--rows`` rows of a fenced range of ``lesson_progress`` (the largest table of a
user move) in chunks of ``--chunk`` rows of ``user_id``, each chunk one transaction passing
the fence with ``@lmsdb_fence_bypass`` as ``delete_source`` does, on one MariaDB database,
under trigger variants (reloaded between runs, untimed; the variants alternate):

- ``none``: no trigger (the ceiling's DELETE);
- ``empty``: a trigger with an empty body (the cost of calling a stored program per row);
- ``lmsdb``: the fence lmsdb creates (``lms_db/moves/fence_set.py``: range test, then the
  bypass test);
- ``bypass_first``: the bypass test first (``NOT (@lmsdb_fence_bypass <=> move)``), so a
  bypassed row skips the range test (every other write then pays the variable read).

    python benchmarks/fence_deletes.py --rows 72000 --runs 7
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

import sqlalchemy as sa

from benchmarks.machine import machine
from lms_db.models import metadata
from lms_db.moves.fence_set import create_statements
from lms_db.moves.scope import keyspace_scopes

DATABASE = "lmsdb_bench_fence_deletes"
MOVE = 7
VARIANTS = ("none", "empty", "lmsdb", "bypass_first")


def _trigger(conn: sa.Connection, variant: str, lo: int, hi: int) -> str | None:
    """The ``CREATE TRIGGER`` of ``variant`` on ``lesson_progress`` (``None``: none)."""
    if variant == "none":
        return None
    scope = next(s for s in keyspace_scopes("user") if s.name == "lesson_progress")
    lmsdb = create_statements(conn, scope, "fa", [(MOVE, lo, hi)])[2]  # the BEFORE DELETE
    if variant == "lmsdb":
        return lmsdb
    head = lmsdb[: lmsdb.index("FOR EACH ROW") + len("FOR EACH ROW")]
    if variant == "empty":
        return f"{head} BEGIN END"
    test = f"(OLD.user_id >= {lo} AND OLD.user_id < {hi})"
    bypass = f"IFNULL(@lmsdb_fence_bypass, 0) <> {MOVE}"
    assert f"{test} AND {bypass}" in lmsdb, "the fence's text changed: update this variant"
    return lmsdb.replace(f"{test} AND {bypass}", f"NOT (@lmsdb_fence_bypass <=> {MOVE}) AND {test}")


def _delete(engine: sa.Engine, lo: int, hi: int, chunk: int) -> float:
    """Seconds to delete ``[lo, hi)`` in chunks of ``chunk`` users, bypassing the fence."""
    began = time.perf_counter()
    with engine.connect() as conn:
        for after in range(lo, hi, chunk):
            upto = min(after + chunk, hi)
            conn.exec_driver_sql(f"SET @lmsdb_fence_bypass = {MOVE}")
            conn.exec_driver_sql(
                f"DELETE FROM lesson_progress WHERE user_id >= {after} AND user_id < {upto}"
            )
            conn.exec_driver_sql("SET @lmsdb_fence_bypass = NULL")
            conn.commit()
    return time.perf_counter() - began


def run(url_text: str, rows: int, runs: int, chunk: int) -> dict[str, Any]:
    """Delete seconds per variant, one list of ``runs`` figures each."""
    url = sa.make_url(url_text)
    admin = sa.create_engine(url)
    with admin.connect() as conn:
        conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {DATABASE}")
        conn.exec_driver_sql(f"CREATE DATABASE {DATABASE} CHARACTER SET utf8mb4")
    engine = sa.create_engine(url.set(database=DATABASE))
    lo, hi = 1_000, 1_000 + rows  # one row per user: chunks of `chunk` rows
    table = metadata.tables["lesson_progress"]
    results: dict[str, Any] = {"rows": rows, "chunk": chunk, "seconds": {}}
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("SET foreign_key_checks = 0")
            table.create(conn)
            # Rows outside the range too: the shard's other users.
            conn.exec_driver_sql(
                "INSERT INTO lesson_progress (user_id, lesson_id, enrollment_id, status) "
                f"SELECT {hi} + seq, 1, seq, 'completed' FROM seq_1_to_{rows}"
            )
        for _ in range(runs):
            for variant in VARIANTS:
                with engine.begin() as conn:
                    conn.exec_driver_sql("DROP TRIGGER IF EXISTS lmsdb_fa_lesson_progress_d")
                    text = _trigger(conn, variant, lo, hi)
                    if text is not None:
                        conn.exec_driver_sql(text)
                    conn.exec_driver_sql("SET foreign_key_checks = 0")
                    conn.exec_driver_sql(
                        "INSERT INTO lesson_progress (user_id, lesson_id, enrollment_id, "
                        f"status, user_notes) SELECT {lo} + seq - 1, 1, seq, 'completed', 'note' "
                        f"FROM seq_1_to_{rows}"
                    )
                results["seconds"].setdefault(variant, []).append(_delete(engine, lo, hi, chunk))
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {DATABASE}")
        admin.dispose()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="mysql+pymysql://root@127.0.0.1:3306/")
    parser.add_argument("--rows", type=int, default=72_000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--chunk", type=int, default=10_000)
    args = parser.parse_args()
    r = run(args.url, args.rows, args.runs, args.chunk)
    print(machine())
    print(f"DELETE of {r['rows']:,} lesson_progress rows in chunks of {r['chunk']:,}:")
    base = statistics.median(r["seconds"]["none"])
    for variant, seconds in r["seconds"].items():
        median = statistics.median(seconds)
        print(
            f"  {variant:13s} median {median:.3f} s ({median / base:.2f}x none), "
            f"best {min(seconds):.3f} s"
        )


if __name__ == "__main__":
    main()
