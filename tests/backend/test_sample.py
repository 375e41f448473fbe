"""``load_sample`` on real fleets: every invariant of the schema holds, rows sit where the
Router says, and the same seed gives the same data.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
import sqlalchemy as sa

from lms_db import metadata
from lms_db.errors import InputError
from lms_db.routing import Router
from lms_db.routing.keys import id_tables, keyspace_tables
from lms_db.sample import load_sample, parse_skew
from tests.backend.router_helpers import (  # noqa: F401 - fixtures
    Fleet,
    _fleet_for,
    fixture_make_second_database,
    fixture_second_mariadb,
    table_checksums,
)

SHARDS = ("shard-0", "shard-1", "shard-2")
USERS, COURSES, SEED = 150, 9, 7

#: (child table, column, parent table): references inside one shard.
SAME_SHARD_REFS = [
    (t.name, fk.parent.name, fk.column.table.name)
    for t in metadata.sorted_tables for fk in t.foreign_keys
    if t.info.get("keyspace") in ("user", "course")
]


def _fleet(request: pytest.FixtureRequest, tmp_path: Path, backend: str) -> Fleet:
    analytics = None
    if backend == "mariadb":
        analytics = request.getfixturevalue("make_postgresql_database")()
    elif backend == "sqlite":
        analytics = sa.engine.make_url(f"sqlite:///{tmp_path / 'analytics.sqlite'}")
    return _fleet_for(request, tmp_path, backend, analytics=analytics)


def _enum_columns() -> list[tuple[str, str, set[str]]]:
    out = []
    for table in metadata.sorted_tables:
        for column in table.columns:
            enums = getattr(column.type, "enums", None)
            if enums:
                out.append((table.name, column.name, set(enums)))
    return out


def _unique_keys(table: sa.Table) -> list[tuple[str, ...]]:
    keys = [tuple(c.name for c in table.primary_key.columns)]
    for constraint in table.constraints:
        if isinstance(constraint, sa.UniqueConstraint):
            keys.append(tuple(c.name for c in constraint.columns))
    keys += [(c.name,) for c in table.columns if c.unique]
    return keys


@pytest.mark.parametrize("backend", ["mariadb", "postgresql", "sqlite"])
def test_sample_load_keeps_every_invariant(backend: str, request: pytest.FixtureRequest,
                                           tmp_path: Path) -> None:
    fleet = _fleet(request, tmp_path, backend)
    with Router.from_topology(fleet.topology) as router:
        result = load_sample(router, users=USERS, courses=COURSES, seed=SEED)
        assert result.total_rows > 20 * USERS and result.users == USERS
        ids: dict[str, Counter[int]] = {t.name: Counter() for t in id_tables()}
        users_per_shard = {}
        for shard in SHARDS:
            with router.engine_for_shard(shard).connect() as conn:
                _check_shard(router, conn, shard, result.rows.get(shard, {}), ids)
                users_per_shard[shard] = conn.execute(sa.text("SELECT COUNT(*) FROM users")
                                                      ).scalar()
        assert sum(users_per_shard.values()) == USERS
        assert max(users_per_shard.values()) - min(users_per_shard.values()) <= 1  # even
        for table, counter in ids.items():
            assert not [i for i, n in counter.items() if n > 1], f"{table} ids collide"
        _check_logical_refs(router)
        if fleet.topology.analytics is not None:
            with router.analytics_engine().connect() as conn:
                events = conn.execute(sa.text("SELECT COUNT(*) FROM user_events")).scalar()
            assert events == result.rows["analytics"]["user_events"] > 0


def _check_shard(router: Router, conn: sa.Connection, shard: str, written: dict[str, int],
                 ids: dict[str, Counter[int]]) -> None:
    def scalar(sql: str) -> int:
        return int(conn.execute(sa.text(sql)).scalar() or 0)

    for table in keyspace_tables("user") + keyspace_tables("course") + keyspace_tables(
            "global"):
        assert scalar(f"SELECT COUNT(*) FROM {table.name}") == written.get(table.name, 0), (
            shard, table.name)
        for key in _unique_keys(table):
            cols = ", ".join(key)
            where = " AND ".join(f"{c} IS NOT NULL" for c in key)
            dupes = scalar(f"SELECT COUNT(*) FROM (SELECT {cols} FROM {table.name} WHERE "
                           f"{where} GROUP BY {cols} HAVING COUNT(*) > 1) d")
            assert dupes == 0, (shard, table.name, key)
    for child, column, parent in SAME_SHARD_REFS:
        orphans = scalar(f"SELECT COUNT(*) FROM {child} c LEFT JOIN {parent} p "
                         f"ON p.id = c.{column} WHERE c.{column} IS NOT NULL AND p.id IS NULL")
        assert orphans == 0, (shard, child, column)
    for table in ("lesson_progress", "quiz_attempts", "certificates"):
        assert scalar(f"SELECT COUNT(*) FROM {table} t JOIN enrollments e "
                      "ON e.id = t.enrollment_id WHERE e.user_id <> t.user_id") == 0
    for table, column, allowed in _enum_columns():
        found = {v for (v,) in conn.execute(sa.text(
            f"SELECT DISTINCT {column} FROM {table} WHERE {column} IS NOT NULL"))}
        assert found <= allowed, (table, column, found - allowed)
    assert scalar("SELECT COUNT(*) FROM course_reviews WHERE rating NOT BETWEEN 1 AND 5") == 0
    for (uid,) in conn.execute(sa.text("SELECT id FROM users")):
        assert router.shard_for("user", uid).shard == shard
    for (cid,) in conn.execute(sa.text("SELECT id FROM courses")):
        assert router.shard_for("course", cid).shard == shard
    for (uid,) in conn.execute(sa.text("SELECT DISTINCT user_id FROM enrollments")):
        assert router.shard_for("user", uid).shard == shard
    for name, counter in ids.items():
        counter.update(i for (i,) in conn.execute(sa.text(f"SELECT id FROM {name}")))


def _check_logical_refs(router: Router) -> None:
    """References across keyspaces point at rows that exist on the owning shard."""
    courses = {cid for rows in router.scatter("course", "SELECT id FROM courses").values()
               for (cid,) in rows}
    enrolled = {cid for rows in router.scatter(
        "user", "SELECT DISTINCT course_id FROM enrollments").values() for (cid,) in rows}
    assert enrolled and enrolled <= courses
    reviews = [r for rows in router.scatter(
        "course", "SELECT user_id, enrollment_id, course_id FROM course_reviews").values()
        for r in rows]
    assert reviews
    for user_id, enrollment_id, course_id in reviews[:50]:
        with router.engine_for("user", user_id, read=True).connect() as conn:
            found = conn.execute(sa.text(
                "SELECT course_id FROM enrollments WHERE id = :e AND user_id = :u"),
                {"e": enrollment_id, "u": user_id}).scalar()
        assert found == course_id


@pytest.mark.parametrize("backend", ["mariadb", "sqlite"])
def test_the_same_seed_gives_the_same_data(backend: str, request: pytest.FixtureRequest,
                                           tmp_path: Path) -> None:
    digests = []
    tables = [t.name for t in metadata.sorted_tables if not t.info.get("is_view")]
    for run in ("a", "b"):
        where = tmp_path / run
        where.mkdir()
        fleet = _fleet_for(request, where, backend)
        with Router.from_topology(fleet.topology) as router:
            load_sample(router, users=60, courses=5, seed=42, batch_users=25)
        digests.append([table_checksums(url, tables) for url in fleet.shard_urls])
    assert digests[0] == digests[1]
    assert len({d["users"] for d in digests[0]}) == 3  # three different shards of users


def test_skew_weights_place_users(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    fleet = _fleet_for(request, tmp_path, "sqlite")
    with Router.from_topology(fleet.topology) as router:
        weights = parse_skew("shard-0=3,shard-1=1", router.shards("user"))
        assert weights == [3.0, 1.0, 0.0]
        result = load_sample(router, users=40, courses=2, seed=1, skew=weights)
        assert [result.rows.get(s, {}).get("users", 0) for s in SHARDS] == [30, 10, 0]
        for text, message in (("1,2", "3 user shards"), ("a,b,c", "weights like"),
                              ("x=1", "unknown shard"), ("0,0,0", "not all 0")):
            with pytest.raises(InputError, match=message):
                parse_skew(text, router.shards("user"))
        with pytest.raises(InputError, match="instructors"):
            load_sample(router, users=0, courses=3)
