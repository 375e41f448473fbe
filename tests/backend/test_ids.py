"""Id windows on real MariaDB (two servers), PostgreSQL and SQLite: ids never collide.

Rows are inserted on every shard through the Router with the database's own counter
(AUTO_INCREMENT / sequence) or explicit reserved ids (SQLite), with windows small enough to
be re-granted many times, and rows are moved between shards keeping their ids; the union of
all shards' ids never holds a duplicate.
"""

from __future__ import annotations

import itertools
import threading
from collections import Counter
from typing import cast

import pytest
import sqlalchemy as sa

from lms_db.catalog import read_id_windows
from lms_db.ids.windows import IdWindows
from lms_db.models.audit import AuditLog
from lms_db.models.users import User
from lms_db.router import Router
from tests.backend.router_helpers import (  # noqa: F401 - fixtures
    Fleet,
    fixture_fleet,
    fixture_make_second_database,
    fixture_second_mariadb,
)

SHARDS = ("shard-0", "shard-1", "shard-2")
TABLES = ["audit_logs", "users"]
audit, users = cast(sa.Table, AuditLog.__table__), cast(sa.Table, User.__table__)
serial = itertools.count(1)


def _insert(router: Router, windows: IdWindows, shard: str, n: int) -> None:
    """``n`` audit rows and ``n`` users on ``shard``, a transaction of each per call."""
    windows.ensure_windows(shard, TABLES, min_remaining=n)
    engine = router.engine_for_shard(shard)
    with engine.begin() as conn:
        explicit = conn.dialect.name == "sqlite"
        audit_ids = windows.reserve_many(shard, "audit_logs", n, conn=conn) if explicit else None
        user_ids = windows.reserve_many(shard, "users", n, conn=conn) if explicit else None
        for i in range(n):
            k = next(serial)
            row = {"action": "test", "table_name": "t", "record_id": k}
            conn.execute(
                audit.insert().values(
                    **row, **({"id": audit_ids[i]} if audit_ids is not None else {})
                )
            )
            person = {
                "uuid": f"00000000-0000-4000-8000-{k:012d}",
                "email": f"u{k}@x.test",
                "password_hash": "x",
                "first_name": "A",
                "last_name": "B",
            }
            conn.execute(
                users.insert().values(
                    **person, **({"id": user_ids[i]} if user_ids is not None else {})
                )
            )


def _ids(router: Router, table: sa.Table) -> dict[str, list[int]]:
    return {
        s: list(v)
        for s, v in router.scatter(
            "global", lambda shard, conn: conn.execute(sa.select(table.c.id)).scalars().all()
        ).items()
    }


def test_ids_never_collide_across_shards_through_regrants_and_moves(fleet: Fleet) -> None:
    with Router.from_topology(fleet.topology, max_staleness=0) as router:
        windows = IdWindows(router, window_size=25, key_window_size=20)
        for round_ in range(4):
            for shard in SHARDS:
                _insert(router, windows, shard, 6 + round_)
        # A move: the last rows of shard-2 (the highest window) go to shard-0, keeping ids.
        with router.engine_for_shard("shard-2").begin() as src:
            moved = [
                dict(r)
                for r in src.execute(
                    sa.select(audit).order_by(audit.c.id.desc()).limit(5)
                ).mappings()
            ]
            src.execute(audit.delete().where(audit.c.id.in_([r["id"] for r in moved])))
        with router.engine_for_shard("shard-0").begin() as dst:
            dst.execute(audit.insert(), moved)
        for shard in SHARDS:  # what the move protocol runs after copying rows in
            windows.ensure_windows(shard, TABLES)
        for _ in range(3):
            for shard in SHARDS:
                _insert(router, windows, shard, 7)

        for table in (audit, users):
            per_shard = _ids(router, table)
            everything = Counter(i for ids in per_shard.values() for i in ids)
            assert not [i for i, n in everything.items() if n > 1], f"{table.name} collides"
            granted = read_id_windows(router.catalog, table.name)
            assert len({w.shard for w in granted}) == 3
            assert len(granted) > 3, "windows were re-granted"
            moved_ids = {r["id"] for r in moved} if table is audit else set()
            for shard, ids in per_shard.items():
                mine = [w for w in granted if w.shard == shard]
                for i in ids:
                    if i not in moved_ids:
                        assert any(w.lo <= i < w.hi for w in mine), (table.name, shard, i)
        for shard, ids in _ids(router, users).items():
            assert {router.shard_for("user", i).shard for i in ids} == {shard}
        for shard in SHARDS:
            for room in windows.headroom(shard):
                assert room.lo <= room.next_id <= room.hi
                assert room.used + room.remaining == room.hi - room.lo
        # users windows lie inside a user range their shard owns, and never hold id 0
        # (MySQL turns an inserted 0 into the next counter value).
        for w in read_id_windows(router.catalog, "users"):
            owner = router.shard_for("user", w.lo)
            assert owner.shard == w.shard and w.hi <= owner.hi and w.lo >= 1
        if fleet.backend == "postgresql":
            _postgresql_enforces_the_window_end(router)


def _postgresql_enforces_the_window_end(router: Router) -> None:
    IdWindows(router, window_size=3).ensure_windows("shard-1", ["audit_logs"], min_remaining=10**9)
    engine = router.engine_for_shard("shard-1")
    for _ in range(3):
        with engine.begin() as conn:
            conn.execute(audit.insert().values(action="x"))
    with pytest.raises(sa.exc.DBAPIError, match="maximum value"), engine.begin() as conn:
        conn.execute(audit.insert().values(action="x"))


def test_concurrent_grants_never_fail_or_overlap(fleet: Fleet) -> None:
    """Processes granting windows at the same moment (app servers on every shard, a loader,
    a move) each get a window of their own: no deadlock, no overlap error, no shared ids."""
    with Router.from_topology(fleet.topology, max_staleness=0) as router:
        windows = IdWindows(router, window_size=10, key_window_size=10)
        start = threading.Barrier(len(SHARDS) * 2)
        errors: list[BaseException] = []

        def grant(shard: str) -> None:
            try:
                start.wait()
                for _ in range(4):
                    if fleet.backend == "sqlite":  # a window per reservation there
                        for table in TABLES:
                            windows.reserve(shard, table, 3)
                    else:
                        windows.ensure_windows(shard, TABLES, min_remaining=10**9)
            except BaseException as exc:  # reported below, in the test thread
                errors.append(exc)

        threads = [threading.Thread(target=grant, args=(s,)) for s in SHARDS * 2]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        for table in TABLES:
            granted = sorted(read_id_windows(router.catalog, table), key=lambda w: w.lo)
            assert len(granted) == len(threads) * 4, table
            for a, b in itertools.pairwise(granted):
                assert a.hi <= b.lo, (table, a, b)
