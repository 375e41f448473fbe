"""The guarded delete's key sets: PK ranges where ids run on name exactly the same rows."""

from __future__ import annotations

import json
import random

import sqlalchemy as sa
from sqlalchemy.dialects import mysql

from lms_db.archive.chunks import id_runs, key_set, packed_ids, unpacked_ids


def test_id_runs_are_maximal() -> None:
    assert id_runs([1, 2, 3, 5, 7, 8, 10]) == [(1, 3), (5, 5), (7, 8), (10, 10)]
    assert id_runs([]) == []


def test_key_set_selects_exactly_the_ids() -> None:
    md = sa.MetaData()
    table = sa.Table("t", md, sa.Column("id", sa.Integer, primary_key=True))
    engine = sa.create_engine("sqlite://")
    md.create_all(engine)
    rng = random.Random(7)
    with engine.begin() as conn:
        conn.execute(table.insert(), [{"id": i} for i in range(1, 3001)])
        for _ in range(20):
            ids = sorted(rng.sample(range(1, 3001), rng.randint(1, 1500)))
            if rng.random() < 0.3:  # long consecutive runs, as completed rows usually are
                start = rng.randint(1, 2000)
                ids = sorted(set(ids) | set(range(start, start + 500)))
            got = conn.execute(sa.select(table.c.id).where(key_set(table.c.id, ids))).scalars()
            assert sorted(got) == ids
    assert str(key_set(table.c.id, list(range(10, 20)))) == "t.id BETWEEN 10 AND 19"
    assert str(key_set(table.c.id, [1, 2, 3, 7, 9])) == "(t.id BETWEEN 1 AND 3 OR t.id IN (7, 9))"
    # In a WHERE on MySQL (no native boolean) too: a bare condition, never ``... = 1``.
    where = sa.select(table.c.id).where(key_set(table.c.id, [4, 9]), table.c.id > 1)
    rendered = str(where.compile(dialect=mysql.dialect()))
    assert rendered.endswith("WHERE t.id IN (4, 9) AND t.id > %s"), rendered
    assert str(sa.select(table.c.id).where(key_set(table.c.id, []))) == (
        "SELECT t.id \nFROM t \nWHERE false"
    )


def test_packed_ids_give_back_every_key_in_order() -> None:
    rng = random.Random(11)
    for _ in range(200):
        ids = [rng.randint(-5, 60) for _ in range(rng.randint(0, 40))]
        if rng.random() < 0.5:
            ids = sorted(set(ids))
        packed = packed_ids(ids)
        assert unpacked_ids(json.loads(json.dumps(packed))) == ids
    big = 2**64 - 3  # BIGINT UNSIGNED near its maximum
    assert unpacked_ids(packed_ids([big, big + 1, big + 2])) == [big, big + 1, big + 2]


def test_packed_ids_are_short_for_runs_and_read_plain_lists() -> None:
    # 975 keys in runs of 39 (39 of every 100 ids pass the filter): 25 pairs.
    ids = [i for i in range(1, 2501) if 0 < i % 100 < 40]
    assert len(ids) == 975 and len(packed_ids(ids)) == 25
    assert len(json.dumps(packed_ids(ids))) < len(json.dumps(ids)) / 10
    assert packed_ids([1, 2, 3, 5, 7, 8, 10]) == [[1, 3], 5, 7, 8, 10]
    assert unpacked_ids([4, 9, 12]) == [4, 9, 12]  # a journal written before packing
