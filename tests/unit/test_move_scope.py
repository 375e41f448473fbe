"""Which rows belong to a key range: direct shard keys and shard_via chains (SQLite, in memory)."""

from __future__ import annotations

import sqlalchemy as sa

from lms_db.models import metadata
from lms_db.moves.scope import delete_order, insert_order, keyspace_scopes, table_scope
from lms_db.schema.ddl import create_schema


def _engine() -> sa.Engine:
    engine = sa.create_engine("sqlite://")
    with engine.begin() as conn:
        create_schema(conn)
    return engine


def test_via_tables_follow_their_parent_into_the_range() -> None:
    t = metadata.tables
    engine = _engine()
    with engine.begin() as conn:
        conn.execute(sa.text("PRAGMA foreign_keys=OFF"))
        for cid in (5, 15):
            conn.execute(t["course_modules"].insert().values(id=cid * 10, course_id=cid, title="m"))
            conn.execute(
                t["module_lessons"]
                .insert()
                .values(id=cid * 100, module_id=cid * 10, title="l", type="video")
            )
            conn.execute(t["quizzes"].insert().values(id=cid * 10, course_id=cid, title="q"))
            conn.execute(
                t["quiz_questions"]
                .insert()
                .values(
                    id=cid * 100,
                    quiz_id=cid * 10,
                    question_text="?",
                    question_type="true_false",
                    points=1,
                )
            )
        lessons = table_scope(t["module_lessons"])
        questions = table_scope(t["quiz_questions"])
        assert [h.parent.name for h in lessons.hops] == ["course_modules"]
        assert lessons.key_column == "course_id"
        assert conn.execute(lessons.select_range_pks(10, 20)).scalars().all() == [1500]
        assert conn.execute(questions.select_range_pks(0, 10)).scalars().all() == [500]
        assert conn.execute(lessons.key_of(1500)).scalar() == 15
        assert conn.execute(lessons.key_of(99)).first() is None
        modules = table_scope(t["course_modules"])
        assert modules.direct
        assert conn.execute(modules.select_range_pks(0, 100)).scalars().all() == [50, 150]


def test_orders_accept_the_foreign_keys() -> None:
    for keyspace in ("user", "course"):
        order = [s.name for s in insert_order(keyspace)]
        assert set(order) == {s.name for s in keyspace_scopes(keyspace)}
        for position, name in enumerate(order):
            for fk in metadata.tables[name].foreign_keys:
                parent = fk.column.table.name
                if parent in order:
                    assert order.index(parent) < position, (name, parent)
        assert [s.name for s in delete_order(keyspace)] == list(reversed(order))
