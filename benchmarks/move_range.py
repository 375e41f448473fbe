"""Range move rate on MariaDB: lmsdb's move against what a DBA would use instead, in two
layouts side by side in one run.

Builds a catalog and a source shard database (shard-0) on the MariaDB at ``--url``, loads
``--users`` sample users (with their enrollments, progress, attempts, payments, ...) onto
it, then moves the rows of the first 25% of those users (every user-keyspace table) away,
resetting in between (untimed), in two layouts:

- ``one-server``: to shard-1, a second database of the same server;
- ``two-servers``: to shard-2, a database of a second ``mariadbd`` this benchmark starts
  on a free loopback port (like the tests' ``tests/backend/servers.py``), with the same
  buffer pool and durability as the server at ``--url`` (128 MiB, flush at commit).

``--buffer-pool 3G`` runs both layouts in the regime the issue's reference figures were
measured in (``shared/research/copy-verify-archive.md`` section 8: a 3 GB pool, a 1 GB
redo log): the benchmark then starts the first server too (catalog, shard-0, shard-1),
and both servers get that pool and a 1 GiB redo log, with the same durability as above.
With the stock 128 MiB pool, 1M enrollments' tables (2.7 GB) do not fit and every move's
delete reads its pages from disk; with 3 GB they do.

The ways, on the same rows:

- ``lmsdb``: ``start_move`` (copy, trigger catch-up, fence, final delta, verify, switch,
  id windows, chunked delete); on one server the same-server copy path, between servers
  the client path.  Each step's wall time is recorded too (``lmsdb_phases``), and the peak
  RSS of the process that ran it (``lmsdb_max_rss_mib``, ``VmHWM``: the move runs in a
  child process of its own, so the sample load and the other legs are not in it);
- ``pt_archiver``: ``--bulk-insert --bulk-delete --limit 1000 --commit-each`` per table
  (foreign-key checks off on both sides, as it cannot order tables; needs the Debian
  package ``percona-toolkit``; skipped if missing);
- ``mysqldump``: ``mysqldump --where | mariadb`` per table, then one ``DELETE`` per table;
- ``insert_select`` (one server only): ``INSERT ... SELECT`` + ``DELETE`` per table in one
  transaction, the server-side ceiling when both databases share a server; foreign-key
  checks off, as pt-archiver and mysqldump's output run;
- ``insert_select_fk``: the same with foreign-key checks on, as lmsdb runs (tables in FK
  order, so the checks never fail: they only cost their lookups);
- ``delete_only``: not a way to move but the floor of every way: the rows are copied to
  the destination first (untimed), then only their delete from the source is timed, along
  each table's primary key, 10,000 rows per statement and commit, children first,
  foreign-key checks off (pt-archiver's ``--bulk-delete`` without its copy).  Every move
  ends with these rows gone from the source, so none can take less; a move that verifies
  before it switches must delete after the copy's pages have left a small buffer pool.

No verification in the last four (lmsdb verifies every chunk before it switches).

    python benchmarks/move_range.py --users 10000
    python benchmarks/move_range.py --users 10000 --layout one-server --ways lmsdb,insert_select
    python benchmarks/move_range.py --users 2000 --profile /tmp/move.prof --json
    python benchmarks/move_range.py --users 401000 --layout one-server --ways lmsdb
    python benchmarks/move_range.py --users 401000 --buffer-pool 3G   # tables in memory

The sample holds about 2.5 enrollments per user (20,000 users: 49,864), so ``--users 401000``
loads about 1,000,000 enrollments (about 12 million rows in all) and ``--users 1604000``
about 4,000,000.  When nothing runs after the lmsdb leg (``--ways lmsdb``, last layout),
its rows are not moved back.

The figures depend on the machine's load (each leg records ``os.getloadavg()`` before it):
re-measure on a quiet machine before quoting.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from functools import partial
from pathlib import Path
from typing import Any

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.machine import machine
from benchmarks.peak_rss import peak_rss_kib
from lms_db.catalog import seed_from_topology
from lms_db.migrate.scripts import head_revision, script_directory
from lms_db.moves.engine import MoveProgress, start_move
from lms_db.moves.plan import MoveRequest
from lms_db.moves.scope import delete_order, insert_order, single_pk
from lms_db.router import Router
from lms_db.sample import load_sample
from lms_db.schema.ddl import create_schema
from lms_db.topology.spec import load_topology
from tests.backend.servers import MariaDBServer, start_mariadbd

KEYS = 2**62
LAYOUTS = ("one-server", "two-servers")
WAYS = ("lmsdb", "pt_archiver", "mysqldump", "insert_select", "insert_select_fk", "delete_only")
#: The second server: the buffer pool and durability of a stock MariaDB (like :3306).
SECOND_SERVER_OPTIONS = (
    "--innodb-buffer-pool-size=128M",
    "--innodb-log-file-size=96M",
    "--innodb-flush-log-at-trx-commit=1",
    "--skip-log-bin",
    "--local-infile=1",
)


def _where(table: str, lo: int, hi: int) -> str:
    column = "id" if table == "users" else "user_id"
    return f"{column} >= {lo} AND {column} < {hi}"


def _buffer_pool(admin: sa.Engine) -> str:
    with admin.connect() as conn:
        size = int(conn.exec_driver_sql("SELECT @@innodb_buffer_pool_size").scalar_one())
    return f"{size / 2**20:,.0f} MiB"


def _count(url: sa.URL, lo: int, hi: int) -> int:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            return sum(
                int(
                    conn.exec_driver_sql(
                        f"SELECT COUNT(*) FROM {s.name} WHERE {_where(s.name, lo, hi)}"
                    ).scalar_one()
                )
                for s in insert_order("user")
            )
    finally:
        engine.dispose()


def _enrollments(url: sa.URL) -> int:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            return int(conn.exec_driver_sql("SELECT COUNT(*) FROM enrollments").scalar_one())
    finally:
        engine.dispose()


def _server_move(
    admin: sa.Engine, src: str, dst: str, lo: int, hi: int, fk_checks: bool = False
) -> None:
    with admin.begin() as conn:
        conn.exec_driver_sql(f"SET foreign_key_checks = {int(fk_checks)}")
        _insert_select(conn, src, dst, lo, hi)
        for s in delete_order("user"):
            conn.exec_driver_sql(f"DELETE FROM {src}.{s.name} WHERE {_where(s.name, lo, hi)}")


def _insert_select(conn: sa.Connection, src: str, dst: str, lo: int, hi: int) -> None:
    for s in insert_order("user"):
        conn.exec_driver_sql(
            f"INSERT INTO {dst}.{s.name} SELECT * FROM {src}.{s.name} "
            f"WHERE {_where(s.name, lo, hi)}"
        )


def _server_copy(admin: sa.Engine, src: str, dst: str, lo: int, hi: int) -> None:
    with admin.begin() as conn:
        conn.exec_driver_sql("SET foreign_key_checks = 0")
        _insert_select(conn, src, dst, lo, hi)


def _client_args(url: sa.URL) -> list[str]:
    return [
        "-h",
        url.host or "127.0.0.1",
        "-P",
        str(url.port or 3306),
        "-u",
        url.username or "root",
    ]


def _dump_copy(src: sa.URL, dst: sa.URL, lo: int, hi: int) -> None:
    for s in insert_order("user"):
        dump = subprocess.Popen(
            [
                "mysqldump",
                *_client_args(src),
                "--no-create-info",
                "--skip-triggers",
                "--single-transaction",
                "--default-character-set=utf8mb4",
                f"--where={_where(s.name, lo, hi)}",
                str(src.database),
                s.name,
            ],
            stdout=subprocess.PIPE,
        )
        subprocess.run(
            ["mariadb", *_client_args(dst), "--default-character-set=utf8mb4", str(dst.database)],
            stdin=dump.stdout,
            check=True,
        )
        dump.wait()


def _dump_move(src: sa.URL, dst: sa.URL, lo: int, hi: int) -> None:
    _dump_copy(src, dst, lo, hi)
    engine = sa.create_engine(src, poolclass=sa.pool.NullPool)
    with engine.begin() as conn:
        conn.exec_driver_sql("SET foreign_key_checks = 0")
        for s in delete_order("user"):
            conn.exec_driver_sql(f"DELETE FROM {s.name} WHERE {_where(s.name, lo, hi)}")
    engine.dispose()


def _chunked_delete(src: sa.URL, lo: int, hi: int, chunk: int = 10_000) -> None:
    """The range's rows deleted from the source as pt-archiver's bulk delete does: along
    each table's primary key, ``chunk`` rows per statement and commit, children first
    (foreign-key checks off)."""
    engine = sa.create_engine(src, poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        conn.exec_driver_sql("SET foreign_key_checks = 0")
        for s in delete_order("user"):
            where, last = _where(s.name, lo, hi), None  # a key: an integer or a token
            pk = single_pk(s.table).name
            while True:
                above = "" if last is None else f"{pk} > :last AND "
                upto = conn.execute(
                    sa.text(
                        f"SELECT {pk} FROM {s.name} FORCE INDEX (PRIMARY) WHERE {above}{where} "
                        f"ORDER BY {pk} LIMIT 1 OFFSET {chunk - 1}"
                    ),
                    {"last": last},
                ).scalar()
                below = "" if upto is None else f" AND {pk} <= :upto"
                conn.execute(
                    sa.text(f"DELETE FROM {s.name} WHERE {above}{where}{below}"),
                    {"last": last, "upto": upto},
                )
                conn.commit()
                if upto is None:
                    break
                last = upto
    engine.dispose()


def _delete_only(copy: Callable[[], None], src: sa.URL, lo: int, hi: int) -> float:
    """The delete floor: the rows copied first (untimed), then only their delete timed."""
    copy()
    started = time.monotonic()
    _chunked_delete(src, lo, hi)
    return time.monotonic() - started


def _dsn(url: sa.URL) -> str:
    return f"h={url.host or '127.0.0.1'},P={url.port or 3306},u={url.username or 'root'}"


def _pt_archiver(src: sa.URL, dst: sa.URL, lo: int, hi: int) -> None:
    for s in insert_order("user"):
        subprocess.run(
            [
                "pt-archiver",
                "--source",
                f"{_dsn(src)},D={src.database},t={s.name}",
                "--dest",
                f"{_dsn(dst)},D={dst.database},t={s.name}",
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


def _make_schema(url: sa.URL) -> None:
    head = head_revision(script_directory("oltp"))
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with engine.begin() as conn:
        create_schema(conn)
        conn.exec_driver_sql(
            "CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL PRIMARY KEY)"
        )
        conn.execute(sa.text("INSERT INTO alembic_version VALUES (:v)"), {"v": head})
    engine.dispose()


def _drop_lmsdb_triggers(url: sa.URL) -> None:
    """Fences left by the lmsdb legs: the other tools must not meet them."""
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with engine.begin() as conn:
        for (trigger,) in conn.exec_driver_sql(
            "SELECT TRIGGER_NAME FROM information_schema.TRIGGERS "
            "WHERE EVENT_OBJECT_SCHEMA = DATABASE() AND LEFT(TRIGGER_NAME, 6) = 'lmsdb_'"
        ).all():
            conn.exec_driver_sql(f"DROP TRIGGER {trigger}")
        if sa.inspect(conn).has_table("lmsdb_fences"):
            conn.exec_driver_sql("DELETE FROM lmsdb_fences")
    engine.dispose()


class _Phases:
    """Wall time per move step, from the move's progress reports."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._phase: str | None = None
        self._since = time.monotonic()

    def __call__(self, progress: MoveProgress) -> None:
        if progress.phase != self._phase:
            self._close()
            self._phase = progress.phase

    def _close(self) -> None:
        now = time.monotonic()
        if self._phase is not None:
            self.seconds[self._phase] = round(
                self.seconds.get(self._phase, 0.0) + now - self._since, 3
            )
        self._since = now

    def done(self) -> dict[str, float]:
        self._close()
        return self.seconds


def _server_options(pool: str | None) -> tuple[str, ...]:
    """A started server's options: the stock pool, or ``pool`` with a 1 GiB redo log."""
    if pool is None:
        return SECOND_SERVER_OPTIONS
    return (
        *SECOND_SERVER_OPTIONS,
        f"--innodb-buffer-pool-size={pool}",
        "--innodb-log-file-size=1G",
    )


@contextmanager
def _started_server(
    base: Path, name: str, server_id: int, pool: str | None
) -> Iterator[MariaDBServer]:
    server = start_mariadbd(base, name, server_id, primary=True, options=_server_options(pool))
    try:
        yield server
    finally:
        server.stop()


def _fleet(url: sa.URL, names: dict[str, str], second: MariaDBServer | None, tmp: Path) -> Any:
    u = url.render_as_string(hide_password=False)
    text = (
        f'[catalog]\nurl = "{u}/{names["cat"]}"\n\n[[shards]]\nname = "shard-0"\n'
        f'primary = "{u}/{names["s0"]}"\nranges = {{ user = [0, {KEYS}], '
        f'course = [0, {KEYS}] }}\n\n[[shards]]\nname = "shard-1"\n'
        f'primary = "{u}/{names["s1"]}"\nranges = {{ }}\n'
    )
    if second is not None:
        s2 = second.url(names["s2"]).render_as_string(hide_password=False)
        text += f'\n[[shards]]\nname = "shard-2"\nprimary = "{s2}"\nranges = {{ }}\n'
    (tmp / "t.toml").write_text(text)
    return load_topology(tmp / "t.toml")


def _lmsdb_child(topology_path: Path, lo: int, hi: int, shard: str, profile: str | None) -> None:
    """The lmsdb leg in this (child) process: one move, its figures as JSON on stdout."""
    phases = _Phases()
    with Router.from_topology(load_topology(topology_path)) as router:
        prof = cProfile.Profile() if profile else None
        started = time.monotonic()
        if prof is not None:
            prof.enable()
        moved = start_move(router, MoveRequest("user", lo, hi, shard), on_progress=phases)
        if prof is not None:
            prof.disable()
            prof.dump_stats(str(profile))
        seconds = time.monotonic() - started
    usage = resource.getrusage(resource.RUSAGE_SELF)
    out = {
        "seconds": seconds,
        "phases": phases.done(),
        "frozen_seconds": moved.frozen_seconds,
        "copy_path": moved.copy_path,
        "max_rss_mib": round(peak_rss_kib(usage) / 1024, 1),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
    }
    print(json.dumps(out))


def _lmsdb_leg(
    topology_path: Path, lo: int, hi: int, shard: str, profile: str | None
) -> dict[str, Any]:
    args = [sys.executable, __file__, "--leg-lmsdb", str(topology_path)]
    args += ["--lo", str(lo), "--hi", str(hi), "--to", shard]
    if profile:
        args += ["--profile", profile]
    out = subprocess.run(args, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"the lmsdb leg failed: {out.stderr[-2000:]}")
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def run(
    url_text: str,
    users: int,
    layouts: tuple[str, ...] = LAYOUTS,
    ways: tuple[str, ...] = WAYS,
    profile: str | None = None,
    pool: str | None = None,
) -> dict[str, Any]:
    """Load, then time each way in each layout.

    :param pool: start the first server too, both with this buffer pool (``3G``); ``None``
        uses the server at ``url_text`` and a second one with the stock pool.
    """
    with ExitStack() as servers:
        tmp = Path(tempfile.mkdtemp())
        servers.callback(shutil.rmtree, tmp, ignore_errors=True)
        if pool is not None:
            first = servers.enter_context(_started_server(tmp, "source", 30, pool))
            url_text = f"mysql+pymysql://root@127.0.0.1:{first.port}"
        second = None
        if "two-servers" in layouts:
            second = servers.enter_context(_started_server(tmp, "dest", 31, pool))
        return _run(sa.engine.make_url(url_text), users, layouts, ways, profile, second, tmp)


def _run(
    url: sa.URL,
    users: int,
    layouts: tuple[str, ...],
    ways: tuple[str, ...],
    profile: str | None,
    second: MariaDBServer | None,
    tmp: Path,
) -> dict[str, Any]:
    admin = sa.create_engine(url.set(database=None))
    names = {k: f"lmsdb_bm_{k}_{uuid.uuid4().hex[:8]}" for k in ("cat", "s0", "s1", "s2")}
    with admin.begin() as conn:
        for key in ("cat", "s0", "s1"):
            conn.exec_driver_sql(f"CREATE DATABASE {names[key]} CHARACTER SET utf8mb4")
    try:
        urls = {k: url.set(database=names[k]) for k in ("s0", "s1")}
        if second is not None:
            second.execute(f"CREATE DATABASE {names['s2']} CHARACTER SET utf8mb4")
            urls["s2"] = second.url(names["s2"])
        for key in urls:
            if key != "s0":
                _make_schema(urls[key])
        _make_schema(urls["s0"])
        topology = _fleet(url, names, second, tmp)
        catalog = sa.create_engine(topology.catalog.url)
        seed_from_topology(catalog, topology)
        catalog.dispose()
        dests = {"one-server": ("s1", "shard-1"), "two-servers": ("s2", "shard-2")}
        results: dict[str, Any] = {"users": users, "machine": machine(), "layouts": {}}
        results["buffer_pool"] = _buffer_pool(admin)
        with Router.from_topology(topology) as router:
            load_sample(router, users=users, courses=max(10, users // 50), seed=3)
            s0 = sa.create_engine(urls["s0"])
            with s0.connect() as conn:
                ids = list(conn.exec_driver_sql("SELECT id FROM users ORDER BY id").scalars())
            s0.dispose()
            lo, hi = int(ids[0]), int(ids[len(ids) // 4])
            rows = _count(urls["s0"], lo, hi)
            results["rows_moved"] = rows
            results["enrollments"] = _enrollments(urls["s0"])
            if "lmsdb" in ways:
                for layout in layouts:
                    key, shard = dests[layout]
                    out = results["layouts"].setdefault(layout, {})
                    out["load_before_lmsdb"] = round(os.getloadavg()[0], 2)
                    leg = _lmsdb_leg(
                        tmp / "t.toml", lo, hi, shard, f"{profile}.{layout}" if profile else None
                    )
                    out["lmsdb"] = leg["seconds"]
                    out["lmsdb_phases"] = leg["phases"]
                    out["lmsdb_frozen_seconds"] = leg["frozen_seconds"]
                    out["lmsdb_copy_path"] = leg["copy_path"]
                    out["lmsdb_max_rss_mib"] = leg["max_rss_mib"]
                    out["lmsdb_cpu_s"] = leg["cpu_s"]
                    assert _count(urls[key], lo, hi) == rows and _count(urls["s0"], lo, hi) == 0
                    router.refresh()
                    if layout != layouts[-1] or set(ways) - {"lmsdb"}:
                        start_move(router, MoveRequest("user", lo, hi, "shard-0"))  # untimed
        for key in urls:
            _drop_lmsdb_triggers(urls[key])
        for layout in layouts:
            key, _ = dests[layout]
            out = results["layouts"].setdefault(layout, {})
            legs: dict[str, Callable[[], float | None]] = {
                "mysqldump": partial(_dump_move, urls["s0"], urls[key], lo, hi),
            }
            if layout == "one-server":
                copy = partial(_server_copy, admin, names["s0"], names[key], lo, hi)
            else:
                copy = partial(_dump_copy, urls["s0"], urls[key], lo, hi)
            legs["delete_only"] = partial(_delete_only, copy, urls["s0"], lo, hi)
            if shutil.which("pt-archiver"):
                legs["pt_archiver"] = partial(_pt_archiver, urls["s0"], urls[key], lo, hi)
            if layout == "one-server":
                legs["insert_select"] = partial(
                    _server_move, admin, names["s0"], names[key], lo, hi
                )
                legs["insert_select_fk"] = partial(
                    _server_move, admin, names["s0"], names[key], lo, hi, True
                )
            for name in [w for w in WAYS if w in legs and w in ways]:
                out[f"load_before_{name}"] = round(os.getloadavg()[0], 2)
                started = time.monotonic()
                timed = legs[name]()  # a float: the leg timed its own part
                out[name] = timed if timed is not None else time.monotonic() - started
                assert _count(urls[key], lo, hi) == rows and _count(urls["s0"], lo, hi) == 0, name
                if layout == "one-server":
                    _server_move(admin, names[key], names["s0"], lo, hi)  # back (untimed)
                else:
                    _dump_move(urls[key], urls["s0"], lo, hi)  # back (untimed)
        results["load_after"] = round(os.getloadavg()[0], 2)
        return results
    finally:
        with admin.begin() as conn:
            for key in ("cat", "s0", "s1"):
                conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {names[key]}")
        admin.dispose()


def _print(results: dict[str, Any]) -> None:
    rows = results["rows_moved"]
    print(
        f"{rows:,} rows of {results['users'] // 4:,} users moved "
        f"({results['enrollments']:,} enrollments loaded); {results['machine']}; "
        f"buffer pool {results['buffer_pool']}"
    )
    for layout, out in results["layouts"].items():
        print(f"{layout}:")
        ceiling, pt = out.get("insert_select"), out.get("pt_archiver")
        for name in WAYS:
            if name not in out:
                continue
            seconds = out[name]
            ratios = []
            if name == "delete_only":
                # Not a way to move: the source's share of any move, its floor.
                if pt:
                    ratios.append(f"no move can beat {pt / seconds:5.2f}x pt-archiver")
                if "lmsdb" in out:
                    ratios.append(f"{seconds / out['lmsdb']:.0%} of lmsdb's move")
            else:
                if ceiling:
                    ratios.append(f"{ceiling / seconds:5.2f}x the INSERT...SELECT ceiling")
                if pt:
                    ratios.append(f"{pt / seconds:5.2f}x pt-archiver")
            print(
                f"  {name:<14} {seconds:7.2f} s  {rows / seconds:9,.0f} rows/s  "
                f"{'; '.join(ratios)}  (load {out[f'load_before_{name}']})"
            )
        if "lmsdb" in out:
            print(f"  lmsdb copy path: {out['lmsdb_copy_path']}")
            print(f"  lmsdb freeze-to-switch: {out['lmsdb_frozen_seconds']} s")
            print(f"  lmsdb steps: {out['lmsdb_phases']}")
            print(f"  lmsdb peak RSS: {out['lmsdb_max_rss_mib']} MiB, CPU {out['lmsdb_cpu_s']} s")
    print(f"load after: {results['load_after']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="mysql+pymysql://root@127.0.0.1:3306")
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument(
        "--layout", choices=(*LAYOUTS, "both"), default="both", help="which layouts to run"
    )
    parser.add_argument(
        "--ways", default=",".join(WAYS), help=f"comma-separated subset of {','.join(WAYS)}"
    )
    parser.add_argument("--profile", help="cProfile each lmsdb move into PROFILE.<layout>")
    parser.add_argument(
        "--buffer-pool",
        help="start both servers with this InnoDB buffer pool (e.g. 3G) instead of using --url",
    )
    parser.add_argument("--json", action="store_true")
    # The lmsdb leg's child process (see _lmsdb_leg).
    parser.add_argument("--leg-lmsdb", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--lo", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--hi", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--to", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.leg_lmsdb is not None:
        _lmsdb_child(args.leg_lmsdb, args.lo, args.hi, args.to, args.profile)
        return
    layouts = LAYOUTS if args.layout == "both" else (args.layout,)
    ways = tuple(w for w in args.ways.split(",") if w)
    unknown = set(ways) - set(WAYS)
    if unknown:
        parser.error(f"unknown ways: {', '.join(sorted(unknown))}")
    results = run(args.url, args.users, layouts, ways, args.profile, args.buffer_pool)
    if args.json:
        print(json.dumps(results, indent=2))
        return
    _print(results)


if __name__ == "__main__":
    main()
