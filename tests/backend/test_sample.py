"""``load_sample`` on real fleets: every invariant of the schema holds, rows sit where the
Router says, and the same seed gives the same data.
"""

from __future__ import annotations

import random
from bisect import bisect
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import URL

from lms_db import metadata
from lms_db.errors import InputError, OperationError
from lms_db.router import Router
from lms_db.router.keys import id_tables, keyspace_tables
from lms_db.sample import courses as course_gen
from lms_db.sample import load_sample, parse_skew
from lms_db.sample import users as user_gen
from lms_db.sample.courses import fast_draws
from lms_db.sample.load import COLUMNS
from lms_db.sample.writer import BulkWriter, TextRows, render_tsv
from lms_db.schema.ddl import create_schema
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
    for t in metadata.sorted_tables
    for fk in t.foreign_keys
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
def test_sample_load_keeps_every_invariant(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    fleet = _fleet(request, tmp_path, backend)
    with Router.from_topology(fleet.topology) as router:
        result = load_sample(router, users=USERS, courses=COURSES, seed=SEED)
        assert result.total_rows > 20 * USERS and result.users == USERS
        ids: dict[str, Counter[int]] = {t.name: Counter() for t in id_tables()}
        users_per_shard: dict[str, int] = {}
        for shard in SHARDS:
            with router.engine_for_shard(shard).connect() as conn:
                _check_shard(router, conn, shard, result.rows.get(shard, {}), ids)
                users_per_shard[shard] = conn.execute(
                    sa.text("SELECT COUNT(*) FROM users")
                ).scalar_one()
        assert sum(users_per_shard.values()) == USERS
        assert max(users_per_shard.values()) - min(users_per_shard.values()) <= 1  # even
        for table, counter in ids.items():
            assert not [i for i, n in counter.items() if n > 1], f"{table} ids collide"
        _check_logical_refs(router)
        if fleet.topology.analytics is not None:
            with router.analytics_engine().connect() as conn:
                events = conn.execute(sa.text("SELECT COUNT(*) FROM user_events")).scalar()
            assert events == result.rows["analytics"]["user_events"] > 0


def _check_shard(
    router: Router,
    conn: sa.Connection,
    shard: str,
    written: dict[str, int],
    ids: dict[str, Counter[int]],
) -> None:
    def scalar(sql: str) -> int:
        return int(conn.execute(sa.text(sql)).scalar() or 0)

    for table in keyspace_tables("user") + keyspace_tables("course") + keyspace_tables("global"):
        assert scalar(f"SELECT COUNT(*) FROM {table.name}") == written.get(table.name, 0), (
            shard,
            table.name,
        )
        for key in _unique_keys(table):
            cols = ", ".join(key)
            where = " AND ".join(f"{c} IS NOT NULL" for c in key)
            dupes = scalar(
                f"SELECT COUNT(*) FROM (SELECT {cols} FROM {table.name} WHERE "
                f"{where} GROUP BY {cols} HAVING COUNT(*) > 1) d"
            )
            assert dupes == 0, (shard, table.name, key)
    for child, column, parent in SAME_SHARD_REFS:
        orphans = scalar(
            f"SELECT COUNT(*) FROM {child} c LEFT JOIN {parent} p "
            f"ON p.id = c.{column} WHERE c.{column} IS NOT NULL AND p.id IS NULL"
        )
        assert orphans == 0, (shard, child, column)
    for name in ("lesson_progress", "quiz_attempts", "certificates"):
        assert (
            scalar(
                f"SELECT COUNT(*) FROM {name} t JOIN enrollments e "
                "ON e.id = t.enrollment_id WHERE e.user_id <> t.user_id"
            )
            == 0
        )
    for name, column, allowed in _enum_columns():
        found = {
            v
            for (v,) in conn.execute(
                sa.text(f"SELECT DISTINCT {column} FROM {name} WHERE {column} IS NOT NULL")
            )
        }
        assert found <= allowed, (name, column, found - allowed)
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
    courses = {
        cid
        for rows in router.scatter("course", "SELECT id FROM courses").values()
        for (cid,) in rows
    }
    enrolled = {
        cid
        for rows in router.scatter("user", "SELECT DISTINCT course_id FROM enrollments").values()
        for (cid,) in rows
    }
    assert enrolled and enrolled <= courses
    reviews = [
        r
        for rows in router.scatter(
            "course", "SELECT user_id, enrollment_id, course_id FROM course_reviews"
        ).values()
        for r in rows
    ]
    assert reviews
    for user_id, enrollment_id, course_id in reviews[:50]:
        with router.engine_for("user", user_id, read=True).connect() as conn:
            found = conn.execute(
                sa.text("SELECT course_id FROM enrollments WHERE id = :e AND user_id = :u"),
                {"e": enrollment_id, "u": user_id},
            ).scalar()
        assert found == course_id


@pytest.mark.parametrize("backend", ["mariadb", "sqlite"])
def test_the_same_seed_gives_the_same_data(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
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
        for text, message in (
            ("1,2", "3 user shards"),
            ("a,b,c", "weights like"),
            ("x=1", "unknown shard"),
            ("0,0,0", "not all 0"),
        ):
            with pytest.raises(InputError, match=message):
                parse_skew(text, router.shards("user"))
        with pytest.raises(InputError, match="instructors"):
            load_sample(router, users=0, courses=3)


# -- the fast paths stay exact ----------------------------------------------------------------


def test_fast_draws_are_the_random_modules_draws() -> None:
    """The generator's shortcuts give what ``rng.choice``/``randint``/``choices`` give, on the
    Python running the tests (the same data for a seed depends on it)."""
    for seed in range(4):
        slow, quick = random.Random(seed), random.Random(seed)
        below = fast_draws(quick)
        for n in (1, 2, 3, 7, 28, 40, 99, 1141, 864_000, 2**40 + 3):
            assert [slow.randrange(n) for _ in range(200)] == [below(n) for _ in range(200)]
        letters = tuple("abcdefghijklm")
        assert [slow.choice(letters) for _ in range(200)] == [
            letters[below(len(letters))] for _ in range(200)
        ]
        assert [slow.randint(60, 1200) for _ in range(200)] == [
            60 + below(1141) for _ in range(200)
        ]
        values, weights = ("a", "b", "c", "d"), (90, 6, 2, 2)
        sums = (90.0, 96.0, 98.0, 100.0)
        assert [slow.choices(values, weights)[0] for _ in range(200)] == [
            values[bisect(sums, quick.random() * sums[-1], 0, 3)] for _ in range(200)
        ]


def test_load_data_text_holds_every_generated_value() -> None:
    """What the MySQL writer renders (``%s`` text, ``None``/``True``/``False`` replaced over
    the whole text) parses back to exactly the generated values, for every table."""
    rng = random.Random(11)
    counters: Counter[tuple[str, str]] = Counter()

    def next_id(shard: str, table: str) -> int:
        counters[(shard, table)] += 1
        return counters[(shard, table)]

    tables: dict[str, list[tuple[object, ...]]] = dict(course_gen.global_rows(rng))
    plans = [
        course_gen.course_rows(rng, 100 + i, "s0", (7, "Instructor 1"), next_id, defaultdict(list))
        for i in range(12)
    ]
    for plan in plans:
        for table, rows in plan.rows.items():
            tables.setdefault(table, []).extend(rows)
        tables.setdefault("courses", []).append(course_gen.finish_course(plan))
    out: dict[str, dict[str, list[tuple[object, ...]]]] = defaultdict(lambda: defaultdict(list))
    for uid in range(1, 401):
        user_gen.user_rows(rng, uid, "s0", "student", plans, next_id, out, events=True)
    for database in out.values():
        for table, rows in database.items():
            tables.setdefault(table, []).extend(rows)
    assert set(tables) == set(COLUMNS)

    def field(value: object) -> str:
        if value is None:
            return "\\N"
        return str(int(value)) if isinstance(value, bool) else str(value)

    for table, rows in tables.items():
        text = render_tsv(rows)
        as_appended = TextRows(len(COLUMNS[table]))
        for row in rows:
            as_appended.append(row)
        assert as_appended.text() == text, table
        assert text.split("\n")[:-1] == ["\t".join(map(field, row)) for row in rows], table
        assert "\\" not in text.replace("\\N", ""), table


def test_load_data_refuses_rows_the_server_would_not_insert(
    make_mariadb_database: Callable[[], URL],
) -> None:
    """``LOAD DATA LOCAL`` turns data errors into warnings; the writer turns them back into a
    failed load, and nothing of that file is committed."""
    engine = sa.create_engine(make_mariadb_database())
    with engine.begin() as conn:
        create_schema(conn)
    good = list(course_gen.global_rows(random.Random(3))["coupons"])
    cases = {  # what is wrong: the server's warning
        "Duplicate entry": [*good, good[0]],
        "Data truncated": [(*good[0][:2], "bogus", *good[0][3:])],  # not an ENUM value
        "Incorrect decimal value": [(*good[0][:3], "ten", *good[0][4:])],
    }
    try:
        for reason, rows in cases.items():
            writer = BulkWriter({"db": engine})
            writer.open(["db"])
            assert writer.takes_text("db"), "MariaDB's local_infile is on: files are loaded"
            writer.submit("db", [("coupons", COLUMNS["coupons"], list(rows))])
            with pytest.raises(OperationError, match=f"loading coupons: .*{reason}"):
                writer.close()
            with engine.connect() as conn:
                assert conn.execute(sa.text("SELECT COUNT(*) FROM coupons")).scalar() == 0, reason
        writer = BulkWriter({"db": engine})
        writer.submit("db", [("coupons", COLUMNS["coupons"], list(good))])
        assert writer.close() == len(good)
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT COUNT(*) FROM coupons")).scalar() == len(good)
    finally:
        engine.dispose()
