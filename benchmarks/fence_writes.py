"""What fences of past moves cost every write on a source shard (#10).

A source keeps a fence per range that moved away.  Older lmsdb versions added three
triggers per move (``lmsdb_f<move>_*``); now a table has one set checking every fenced range
(``lms_db/moves/fence_set.py``).  This times single-row inserts (a commit per 500) into
``audit_logs`` outside every fenced range with no fence, with ``N`` per-move sets and with one
set of ``N`` ranges, on one MariaDB database.

    python benchmarks/fence_writes.py --fences 20 --rows 20000
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import sqlalchemy as sa

from benchmarks.machine import machine
from lms_db.models import metadata
from lms_db.moves.fence_set import Fence, create_statements
from lms_db.moves.scope import keyspace_scopes
from lms_db.moves.triggers import run_all

DATABASE = "lmsdb_bench_fences"


def _inserts(engine: sa.Engine, rows: int, start: int) -> float:
    """Rows per second of ``rows`` one-row inserts (a commit per 500)."""
    audit = metadata.tables["audit_logs"]
    began = time.perf_counter()
    with engine.connect() as conn:
        for i in range(rows):
            conn.execute(audit.insert().values(id=start + i + 1, user_id=10**9 + i, action="w"))
            if i % 500 == 499:  # commits few: the triggers' cost, not the log flush's
                conn.commit()
        conn.commit()
    return rows / (time.perf_counter() - began)


def run(url_text: str, count: int, rows: int) -> dict[str, Any]:
    """Inserts per second with no fence, ``count`` per-move sets, one set of ``count``."""
    url = sa.make_url(url_text)
    admin = sa.create_engine(url)
    with admin.connect() as conn:
        conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {DATABASE}")
        conn.exec_driver_sql(f"CREATE DATABASE {DATABASE} CHARACTER SET utf8mb4")
    engine = sa.create_engine(url.set(database=DATABASE))
    scope = next(s for s in keyspace_scopes("user") if s.name == "audit_logs")
    fences: list[Fence] = [(m, m * 1000, m * 1000 + 500) for m in range(1, count + 1)]
    results: dict[str, Any] = {"fences": count, "rows": rows}
    try:
        metadata.tables["audit_logs"].create(engine)
        results["none"] = _inserts(engine, rows, 0)
        with engine.begin() as conn:
            for fence in fences:  # the older layout: one set per move
                run_all(conn, create_statements(conn, scope, f"f{fence[0]}", [fence]))
        results["per_move"] = _inserts(engine, rows, rows)
        with engine.begin() as conn:
            for name in conn.exec_driver_sql("SHOW TRIGGERS").scalars().all():
                conn.exec_driver_sql(f"DROP TRIGGER {name}")
            run_all(conn, create_statements(conn, scope, "fa", fences))
        results["one_set"] = _inserts(engine, rows, 2 * rows)
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {DATABASE}")
        admin.dispose()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="mysql+pymysql://root@127.0.0.1:3306/")
    parser.add_argument("--fences", type=int, default=20)
    parser.add_argument("--rows", type=int, default=20000)
    args = parser.parse_args()
    r = run(args.url, args.fences, args.rows)
    print(machine())
    print(f"audit_logs one-row inserts/s, {r['fences']} fenced ranges, {r['rows']} rows each:")
    print(f"  no fence:           {r['none']:,.0f}")
    print(f"  one set per move:   {r['per_move']:,.0f} ({r['per_move'] / r['none']:.2f}x)")
    print(f"  one set, all moves: {r['one_set']:,.0f} ({r['one_set'] / r['none']:.2f}x)")


if __name__ == "__main__":
    main()
