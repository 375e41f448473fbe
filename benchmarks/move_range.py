"""Range move rate on MariaDB: lmsdb's move against what a DBA would use instead.

Builds a catalog and two shard databases on one server, loads ``--users`` sample users (with
their enrollments, progress, attempts, payments, ...) onto shard-0, then moves the rows of
the first 25% of those users (every user-keyspace table) to shard-1 four ways, on the same
rows, resetting in between (untimed):

- ``lmsdb``: ``start_move`` (copy, trigger catch-up, fence, final delta, server-side verify,
  switch, id windows, chunked delete), on one server the same-server copy path;
- ``lmsdb_client``: the same move forced onto the client copy path (rows read and written by
  lmsdb, as between two servers);
- ``pt-archiver``: ``--bulk-insert --bulk-delete --limit 1000 --commit-each`` per table
  (foreign-key checks off on both sides, as it cannot order tables; needs the Debian
  package ``percona-toolkit``: ``apt-get install percona-toolkit``; skipped if missing);
- ``mysqldump --where | mariadb`` per table, then one ``DELETE`` per table (children first);
- ``INSERT ... SELECT`` + ``DELETE`` per table: the server-side ceiling when both databases
  share a server.

No verification in the last three (lmsdb verifies every chunk before it switches).

    python benchmarks/move_range.py --users 2000
    python benchmarks/move_range.py --users 40000 --json

The figures depend on the machine's load: re-measure on a quiet machine before quoting.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any
from unittest import mock

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.machine import machine
from lms_db.catalog import seed_from_topology
from lms_db.migrate.scripts import head_revision, script_directory
from lms_db.moves import engine as move_engine
from lms_db.moves.engine import start_move
from lms_db.moves.plan import MoveRequest
from lms_db.moves.scope import delete_order, insert_order
from lms_db.router import Router
from lms_db.sample import load_sample
from lms_db.schema.ddl import create_schema
from lms_db.topology.spec import load_topology

KEYS = 2**62


def _where(table: str, lo: int, hi: int) -> str:
    column = "id" if table == "users" else "user_id"
    return f"{column} >= {lo} AND {column} < {hi}"


def _count(engine: sa.Engine, lo: int, hi: int) -> int:
    with engine.connect() as conn:
        return sum(
            int(
                conn.exec_driver_sql(
                    f"SELECT COUNT(*) FROM {s.name} WHERE {_where(s.name, lo, hi)}"
                ).scalar_one()
            )
            for s in insert_order("user")
        )


def _server_move(admin: sa.Engine, src: str, dst: str, lo: int, hi: int) -> None:
    with admin.begin() as conn:
        conn.exec_driver_sql("SET foreign_key_checks = 0")
        for s in insert_order("user"):
            conn.exec_driver_sql(
                f"INSERT INTO {dst}.{s.name} SELECT * FROM {src}.{s.name} "
                f"WHERE {_where(s.name, lo, hi)}"
            )
        for s in delete_order("user"):
            conn.exec_driver_sql(f"DELETE FROM {src}.{s.name} WHERE {_where(s.name, lo, hi)}")


def _dump_move(url: sa.URL, src: str, dst: str, lo: int, hi: int) -> None:
    base = [
        "-h",
        url.host or "127.0.0.1",
        "-P",
        str(url.port or 3306),
        "-u",
        url.username or "root",
    ]
    for s in insert_order("user"):
        dump = subprocess.Popen(
            [
                "mysqldump",
                *base,
                "--no-create-info",
                "--skip-triggers",
                "--single-transaction",
                "--default-character-set=utf8mb4",
                f"--where={_where(s.name, lo, hi)}",
                src,
                s.name,
            ],
            stdout=subprocess.PIPE,
        )
        subprocess.run(
            ["mariadb", *base, "--default-character-set=utf8mb4", dst],
            stdin=dump.stdout,
            check=True,
        )
        dump.wait()
    engine = sa.create_engine(url.set(database=src))
    with engine.begin() as conn:
        conn.exec_driver_sql("SET foreign_key_checks = 0")
        for s in delete_order("user"):
            conn.exec_driver_sql(f"DELETE FROM {s.name} WHERE {_where(s.name, lo, hi)}")
    engine.dispose()


def _pt_archiver(url: sa.URL, src: str, dst: str, lo: int, hi: int) -> None:
    dsn = f"h={url.host or '127.0.0.1'},P={url.port or 3306},u={url.username or 'root'}"
    for s in insert_order("user"):
        subprocess.run(
            [
                "pt-archiver",
                "--source",
                f"{dsn},D={src},t={s.name}",
                "--dest",
                f"{dsn},D={dst},t={s.name}",
                "--where",
                _where(s.name, lo, hi),
                "--bulk-insert",
                "--bulk-delete",
                "--limit",
                "1000",
                "--commit-each",
                "--no-check-charset",
                "--set-vars",
                "foreign_key_checks=0",
                "--charset",
                "utf8",
                "--quiet",
            ],
            check=True,
        )


def run(url_text: str, users: int) -> dict[str, Any]:
    url = sa.engine.make_url(url_text)
    admin = sa.create_engine(url.set(database=None))
    names = {k: f"lmsdb_bm_{k}_{uuid.uuid4().hex[:8]}" for k in ("cat", "s0", "s1")}
    with admin.begin() as conn:
        for name in names.values():
            conn.exec_driver_sql(f"CREATE DATABASE {name} CHARACTER SET utf8mb4")
    tmp = Path(tempfile.mkdtemp())
    try:
        head = head_revision(script_directory("oltp"))
        for key in ("s0", "s1"):
            engine = sa.create_engine(url.set(database=names[key]))
            with engine.begin() as conn:
                create_schema(conn)
                conn.exec_driver_sql(
                    "CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL PRIMARY KEY)"
                )
                conn.execute(sa.text("INSERT INTO alembic_version VALUES (:v)"), {"v": head})
            engine.dispose()
        u = url.render_as_string(hide_password=False)
        (tmp / "t.toml").write_text(
            f'[catalog]\nurl = "{u}/{names["cat"]}"\n\n[[shards]]\nname = "shard-0"\n'
            f'primary = "{u}/{names["s0"]}"\nranges = {{ user = [0, {KEYS}], '
            f'course = [0, {KEYS}] }}\n\n[[shards]]\nname = "shard-1"\n'
            f'primary = "{u}/{names["s1"]}"\nranges = {{ }}\n'
        )
        topology = load_topology(tmp / "t.toml")
        catalog = sa.create_engine(topology.catalog.url)
        seed_from_topology(catalog, topology)
        catalog.dispose()
        s0 = sa.create_engine(url.set(database=names["s0"]))
        with Router.from_topology(topology) as router:
            load_sample(router, users=users, courses=max(10, users // 50), seed=3)
            with s0.connect() as conn:
                ids = list(conn.exec_driver_sql("SELECT id FROM users ORDER BY id").scalars())
            lo, hi = int(ids[0]), int(ids[len(ids) // 4])
            rows = _count(s0, lo, hi)
            results: dict[str, Any] = {"users": users, "rows_moved": rows, "machine": machine()}
            started = time.monotonic()
            moved = start_move(router, MoveRequest("user", lo, hi, "shard-1"))
            results["lmsdb"] = time.monotonic() - started
            results["lmsdb_frozen_seconds"] = moved.frozen_seconds
            results["lmsdb_copy_path"] = moved.copy_path
            start_move(router, MoveRequest("user", lo, hi, "shard-0"))  # back (untimed)
            # The same move on the client path (rows through lmsdb), as between two servers.
            with mock.patch.object(move_engine, "probe", lambda *_a: None):
                started = time.monotonic()
                moved = start_move(router, MoveRequest("user", lo, hi, "shard-1"))
                results["lmsdb_client"] = time.monotonic() - started
                assert moved.copy_path == "client"
                start_move(router, MoveRequest("user", lo, hi, "shard-0"))  # back (untimed)
        # The moves leave fences on their sources; the other tools must not meet them.
        with admin.begin() as conn:
            for trigger, schema in conn.exec_driver_sql(
                "SELECT TRIGGER_NAME, TRIGGER_SCHEMA FROM information_schema.TRIGGERS "
                f"WHERE TRIGGER_SCHEMA IN ('{names['s0']}', '{names['s1']}') "
                "AND TRIGGER_NAME LIKE 'lmsdb%%'"
            ).all():
                conn.exec_driver_sql(f"DROP TRIGGER {schema}.{trigger}")
        ways: dict[str, Callable[[], object]] = {
            "insert_select": lambda: _server_move(admin, names["s0"], names["s1"], lo, hi),
            "mysqldump": lambda: _dump_move(url, names["s0"], names["s1"], lo, hi),
        }
        if shutil.which("pt-archiver"):
            ways["pt_archiver"] = lambda: _pt_archiver(url, names["s0"], names["s1"], lo, hi)
        for name, way in ways.items():
            started = time.monotonic()
            way()
            results[name] = time.monotonic() - started
            s1 = sa.create_engine(url.set(database=names["s1"]))
            assert _count(s1, lo, hi) == rows and _count(s0, lo, hi) == 0, name
            s1.dispose()
            _server_move(admin, names["s1"], names["s0"], lo, hi)  # back (untimed)
        s0.dispose()
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
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results = run(args.url, args.users)
    if args.json:
        print(json.dumps(results, indent=2))
        return
    rows = results["rows_moved"]
    print(f"{rows:,} rows of {args.users // 4:,} users moved; {results['machine']}")
    ceiling = results["insert_select"]
    print(f"  lmsdb copy path: {results['lmsdb_copy_path']} (lmsdb_client: forced client path)")
    for name in ("lmsdb", "lmsdb_client", "pt_archiver", "mysqldump", "insert_select"):
        if name in results:
            seconds = results[name]
            print(
                f"  {name:<14} {seconds:7.2f} s  {rows / seconds:9,.0f} rows/s  "
                f"{ceiling / seconds:5.2f}x the INSERT...SELECT ceiling"
            )
    print(f"  lmsdb freeze-to-switch: {results['lmsdb_frozen_seconds']} s")


if __name__ == "__main__":
    main()
