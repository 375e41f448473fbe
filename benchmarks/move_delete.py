"""The delete step of a range move alone, on the move benchmark's rows (#10).

Loads ``--users`` sample users onto a shard database of the MariaDB at ``--url`` (as
``benchmarks/move_range.py`` does), copies the first 25% of them to a second database (the
stash, which also serves as the verified destination), fences the range on the source,
then deletes it again and again (restored from the stash in between, untimed), the ways
alternating:

- ``counted``: ``delete_source`` cutting and counting each chunk (``next_upto``, ``COUNT``,
  ``DELETE``; what a resumed delete does, and every delete before the verified chunks);
- ``verified``: ``delete_source`` with the chunks and counts of a clean ``verify_range``
  pass (untimed, as the move's verify step runs anyway): ``DELETE`` only;
- ``one_statement``: one transaction, one ``DELETE`` per table, through the same fence
  (the ceiling's delete, FK checks on, no chunks, no check).

    python benchmarks/move_delete.py --users 10000 --runs 7
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from benchmarks.machine import machine
from benchmarks.move_range import _count, _fleet, _make_schema, _where
from lms_db.catalog import seed_from_topology
from lms_db.moves import fence_set as fs
from lms_db.moves import phases
from lms_db.moves import triggers as trg
from lms_db.moves.scope import delete_order, insert_order
from lms_db.moves.verify import SourceChunks, verify_range
from lms_db.router import Router
from lms_db.sample import load_sample

MOVE = 99
WAYS = ("counted", "verified", "one_statement")


def run(url_text: str, users: int, runs: int, chunk: int) -> dict[str, Any]:
    """Delete seconds per way, ``runs`` figures each."""
    url = sa.make_url(url_text)
    admin = sa.create_engine(url.set(database=None))
    names = {k: f"lmsdb_bd_{k}_{uuid.uuid4().hex[:8]}" for k in ("cat", "s0", "s1")}
    tmp = Path(tempfile.mkdtemp())
    with admin.begin() as conn:
        for name in names.values():
            conn.exec_driver_sql(f"CREATE DATABASE {name} CHARACTER SET utf8mb4")
    results: dict[str, Any] = {"users": users, "chunk": chunk, "seconds": {}}
    try:
        urls = {k: url.set(database=names[k]) for k in ("s0", "s1")}
        for u in urls.values():
            _make_schema(u)
        topology = _fleet(url, names, None, tmp)
        catalog = sa.create_engine(topology.catalog.url)
        seed_from_topology(catalog, topology)
        catalog.dispose()
        with Router.from_topology(topology) as router:
            load_sample(router, users=users, courses=max(10, users // 50), seed=3)
        src, stash = (sa.create_engine(urls[k]) for k in ("s0", "s1"))
        with src.connect() as conn:
            ids = list(conn.exec_driver_sql("SELECT id FROM users ORDER BY id").scalars())
        lo, hi = int(ids[0]), int(ids[len(ids) // 4])
        results["rows"] = _count(urls["s0"], lo, hi)
        scopes = insert_order("user")

        def server_copy(frm: str, to: str) -> None:
            with admin.begin() as conn:
                conn.exec_driver_sql(f"SET foreign_key_checks = 0, @lmsdb_fence_bypass = {MOVE}")
                for s in insert_order("user"):
                    conn.exec_driver_sql(
                        f"INSERT INTO {to}.{s.name} SELECT * FROM {frm}.{s.name} "
                        f"WHERE {_where(s.name, lo, hi)}"
                    )

        server_copy(names["s0"], names["s1"])
        with src.connect() as conn:
            existing = trg.existing_triggers(conn)
            conn.commit()
            for scope in scopes:
                for statement in fs.rebuild_statements(conn, scope, [(MOVE, lo, hi)], existing, []):
                    conn.exec_driver_sql(statement)
            conn.commit()

        def delete(verified: bool) -> Callable[[], float]:
            def go() -> float:
                chunks: SourceChunks | None = None
                if verified:  # untimed: the move's verify step computes them anyway
                    chunks = {}
                    with (
                        phases.data_connection(src) as s,
                        phases.data_connection(stash) as d,
                    ):
                        assert not verify_range(
                            s, d, scopes, lo, hi, chunk, lambda *_: None, chunks
                        )
                began = time.perf_counter()
                with phases.data_connection(src) as conn:
                    phases.delete_source(conn, MOVE, scopes, lo, hi, chunk, lambda *_: None, chunks)
                return time.perf_counter() - began

            return go

        def one_statement() -> float:
            began = time.perf_counter()
            with src.begin() as conn:
                conn.exec_driver_sql(f"SET @lmsdb_fence_bypass = {MOVE}")
                for s in delete_order("user"):
                    conn.exec_driver_sql(f"DELETE FROM {s.name} WHERE {_where(s.name, lo, hi)}")
            return time.perf_counter() - began

        ways: dict[str, Callable[[], float]] = {
            "counted": delete(False),
            "verified": delete(True),
            "one_statement": one_statement,
        }
        first = True
        for _ in range(runs):
            for name, way in ways.items():
                if not first:
                    server_copy(names["s1"], names["s0"])  # restore (untimed)
                first = False
                seconds = way()
                assert _count(urls["s0"], lo, hi) == 0, name
                results["seconds"].setdefault(name, []).append(seconds)
        src.dispose()
        stash.dispose()
        results["load_after"] = round(os.getloadavg()[0], 2)
        return results
    finally:
        with admin.begin() as conn:
            for name in names.values():
                conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}")
        admin.dispose()
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="mysql+pymysql://root@127.0.0.1:3306")
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--chunk", type=int, default=10_000)
    args = parser.parse_args()
    r = run(args.url, args.users, args.runs, args.chunk)
    print(machine())
    print(f"delete of {r['rows']:,} rows, chunks of {r['chunk']:,} (load after {r['load_after']}):")
    base = statistics.median(r["seconds"]["counted"])
    for name, seconds in r["seconds"].items():
        median = statistics.median(seconds)
        print(
            f"  {name:14s} median {median:.3f} s ({median / base:.2f}x counted), "
            f"best {min(seconds):.3f} s"
        )


if __name__ == "__main__":
    main()
