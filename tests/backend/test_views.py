"""popular_courses: refreshed natively or by shadow table + atomic swap, never seen empty."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from lms_db.errors import UnknownObjectError
from lms_db.schema.ddl import create_schema
from lms_db.schema.views import refresh_view

COURSES = 150


def _load_courses(engine: Engine, *, published_every: int = 1) -> None:
    with engine.begin() as conn:
        create_schema(conn)
        conn.execute(
            sa.text("INSERT INTO course_categories (id, name, slug) VALUES (1, 'Data', 'data')")
        )
        conn.execute(
            sa.text(
                "INSERT INTO courses (id, uuid, title, slug, instructor_id, status, "
                "enrollment_count, category_id) VALUES (:id, :uuid, :title, :slug, 1, "
                ":status, :n, :cat)"
            ),
            [
                {
                    "id": i,
                    "uuid": f"c-{i}",
                    "title": f"Course {i}",
                    "slug": f"course-{i}",
                    "status": "published" if i % published_every == 0 else "draft",
                    "n": i * 7 % 1000,
                    "cat": 1 if i % 2 else None,
                }
                for i in range(1, COURSES + 1)
            ],
        )


def test_refresh_fills_top_100(any_engine: Engine) -> None:
    _load_courses(any_engine, published_every=1)
    result = refresh_view(any_engine, "popular_courses")
    assert result.rows == 100
    with any_engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT id, enrollment_count, category_name FROM popular_courses")
        ).all()
        top = (
            conn.execute(
                sa.text(
                    "SELECT id FROM courses WHERE status = 'published' "
                    "ORDER BY enrollment_count DESC, id LIMIT 100"
                )
            )
            .scalars()
            .all()
        )
    assert sorted(r.id for r in rows) == sorted(top)
    assert {r.category_name for r in rows} == {"Data", None}


def test_refresh_picks_up_changes(any_engine: Engine) -> None:
    _load_courses(any_engine, published_every=2)
    first = refresh_view(any_engine).rows
    with any_engine.begin() as conn:
        conn.execute(sa.text("UPDATE courses SET status = 'archived'"))
    second = refresh_view(any_engine).rows
    assert (first, second) == (COURSES // 2, 0)


def test_readers_never_see_missing_or_empty_view(any_engine: Engine) -> None:
    _load_courses(any_engine)
    refresh_view(any_engine)
    seen: list[int] = []
    errors: list[BaseException] = []
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            try:
                with any_engine.connect() as conn:
                    seen.append(
                        conn.execute(sa.text("SELECT COUNT(*) FROM popular_courses")).scalar_one()
                    )
            except BaseException as exc:  # a missing table would land here
                errors.append(exc)
                return

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for _ in range(8):
            refresh_view(any_engine)
    finally:
        stop.set()
        thread.join(timeout=30)
    assert errors == []
    assert seen, "the reader never ran"
    assert set(seen) == {100}


def test_unknown_view_is_input_error(sqlite_engine: Engine) -> None:
    with pytest.raises(UnknownObjectError, match="unknown view 'nope'"):
        refresh_view(sqlite_engine, "nope")
