"""The take of a chunk (read by deleting, committed once the object is verified) against
the things around it: row locks another session holds, and foreign keys the models do not
declare (the takers delete with foreign-key checks off on MySQL/MariaDB)."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from lms_db.archive.chunks import read_candidates, read_chunk, snapshot
from lms_db.archive.filters import build_filter
from lms_db.archive.scout import scout
from lms_db.archive.tables import archive_group, select_rows, utc_sessions
from lms_db.archive.take import ChunkTaker, takers
from tests.backend.archive_helpers import (
    TABLES,
    archived_rows,
    cli_env,
    ids_in,
    make_fleet,
    run_cli,
    seed_learning,
)
from tests.backend.router_helpers import table_checksums
from tests.backend.s3_helpers import S3Endpoint, fixture_bucket, fixture_s3  # noqa: F401

GROUP = archive_group("enrollments")


def _args(bucket: str, *extra: str) -> list[str]:
    return [
        "archive",
        "run",
        "enrollments",
        "--to",
        f"s3://{bucket}/take",
        "--older-than",
        "2y",
        "--date-column",
        "completed_at",
        "--status",
        "completed",
        "--chunk-size",
        "2",
        "--parallel",
        "1",
        "--yes",
        "--json",
        *extra,
    ]


@pytest.mark.parametrize("backend", ["mariadb", "postgresql"])
def test_a_row_locked_by_another_session_is_waited_for_then_archived(
    request: pytest.FixtureRequest, tmp_path: Path, s3: S3Endpoint, bucket: str, backend: str
) -> None:
    """Another session holds a parent of chunk 2 for longer than a take's lock wait: the
    run commits chunk 1, keeps taking chunk 2 until the lock goes, and archives all."""
    fleet = make_fleet(request, tmp_path, backend)
    expected = seed_learning(fleet)
    engine = fleet.engine(0)
    conn = engine.connect()
    conn.begin()
    conn.execute(
        sa.text("SELECT id FROM enrollments WHERE id = :e FOR UPDATE"), {"e": expected[0][2]}
    ).all()

    def release() -> None:
        time.sleep(5)  # over two of a take's 2 s lock waits
        conn.rollback()

    holder = threading.Thread(target=release)
    holder.start()
    try:
        began = time.monotonic()
        result = run_cli(fleet.path, _args(bucket, "--shard", "shard-0"), cli_env(s3.url))
        took = time.monotonic() - began
    finally:
        holder.join()
        conn.close()
        engine.dispose()
    assert result.returncode == 0, result.stdout + result.stderr
    assert took >= 4, "the run did not wait for the lock"
    assert sorted(archived_rows(s3.client(), bucket)["enrollments"]) == sorted(expected[0])
    assert not set(expected[0]) & set(ids_in(fleet.shard_urls[0], "enrollments"))


def test_a_foreign_key_the_models_do_not_declare_refuses_the_shard(
    request: pytest.FixtureRequest, tmp_path: Path, s3: S3Endpoint, bucket: str
) -> None:
    fleet = make_fleet(request, tmp_path, "mariadb")
    seed_learning(fleet)
    engine = fleet.engine(0)
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "CREATE TABLE enrollment_notes (id BIGINT PRIMARY KEY, enrollment_id BIGINT "
            "UNSIGNED NOT NULL, FOREIGN KEY (enrollment_id) REFERENCES enrollments (id))"
        )
    engine.dispose()
    before = table_checksums(fleet.shard_urls[0], TABLES)
    result = run_cli(fleet.path, _args(bucket, "--shard", "shard-0"), cli_env(s3.url))
    assert result.returncode != 0
    text = result.stdout + result.stderr
    assert "enrollment_notes.enrollment_id" in text, text
    assert "Traceback" not in text
    assert table_checksums(fleet.shard_urls[0], TABLES) == before
    assert archived_rows(s3.client(), bucket) == {}
    if result.stdout.strip().startswith("{"):
        [shard] = json.loads(result.stdout)["shards"]
        assert shard["state"] in ("refused", "failed"), shard


@pytest.mark.parametrize(
    ("backend", "returning", "parent_first"),
    # SQLite has DELETE ... RETURNING; the locked read is MySQL's way, run on the others;
    # parents first is MariaDB's (its takers' foreign-key checks are off).
    [
        ("mariadb", True, True),
        ("mariadb", True, False),
        ("mariadb", False, False),
        ("postgresql", True, False),
        ("postgresql", False, False),
        ("sqlite", True, False),
    ],
    ids=[
        "mariadb-parents-first",
        "mariadb-returning",
        "mariadb-locked-read",
        "pg-returning",
        "pg-locked-read",
        "sqlite",
    ],
)
def test_a_take_holds_exactly_the_rows_it_deletes_until_committed(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    backend: str,
    returning: bool,
    parent_first: bool,
) -> None:
    """Every way of a take (parents deleted first returning their rows, children first
    with ``DELETE ... RETURNING``, and the locked read then delete MySQL needs) gives the
    chunk a snapshot read gives, rows in primary-key order with the same digest; a
    rollback leaves every table as it was, a commit removes exactly the chunk."""
    fleet = make_fleet(request, tmp_path, backend, shards=1)
    ids = seed_learning(fleet)[0]
    url = fleet.shard_urls[0]
    engine = utc_sessions(sa.create_engine(url))
    row_filter = build_filter(
        GROUP.parent, older_than="2y", date_column="completed_at", status="completed"
    )
    before = table_checksums(url, TABLES)
    try:
        parent = GROUP.parent
        with snapshot(engine) as conn:
            query = select_rows(parent, backend).where(parent.c.id.in_(ids)).order_by(parent.c.id)
            parents, types = read_candidates(conn, query, parent)
            expected = read_chunk(conn, GROUP, parents, parent_types=types)
        with takers(engine, GROUP, row_filter, delete=True, count=1) as [taker]:
            assert taker.parent_first == (backend == "mariadb")  # the takers' default
            taker.returning, taker.parent_first = returning, parent_first
            chunk = taker.take(None, 100)
            assert chunk is not None
            assert chunk.rows == expected.rows
            assert chunk.digest() == expected.digest()
            taker.rollback()
            assert table_checksums(url, TABLES) == before
            again = taker.take(None, 100)
            assert again is not None and again.digest() == expected.digest()
            taker.commit()
            assert taker.take(None, 100) is None  # nothing eligible left
    finally:
        engine.dispose()
    assert not set(ids) & set(ids_in(url, "enrollments"))
    for child in ("lesson_progress", "quiz_attempts"):
        assert not set(ids) & set(ids_in(url, child, "enrollment_id")), child
    assert len(ids_in(url, "enrollments")) == 12 - len(ids)  # the others stay


@pytest.mark.parametrize("parent_first", [True, False], ids=["parents-first", "locked-read"])
def test_a_parent_that_no_longer_passes_the_filter_is_never_taken(
    request: pytest.FixtureRequest, tmp_path: Path, parent_first: bool
) -> None:
    """Keys handed to a take that include a row the filter refuses (as if it changed since
    the candidate read): parents first starts over with everything rolled back; the locked
    read leaves that row out.  Either way the row and its children stay."""
    fleet = make_fleet(request, tmp_path, "mariadb", shards=1)
    ids = seed_learning(fleet)[0]
    url = fleet.shard_urls[0]
    engine = utc_sessions(sa.create_engine(url))
    with engine.connect() as conn:  # not completed: refused by the filter, not by a blocker
        refused = conn.execute(
            sa.text("SELECT MIN(id) FROM enrollments WHERE status <> 'completed'")
        ).scalar_one()
    row_filter = build_filter(
        GROUP.parent, older_than="2y", date_column="completed_at", status="completed"
    )
    before = table_checksums(url, TABLES)
    try:
        with takers(engine, GROUP, row_filter, delete=True, count=1) as [taker]:
            taker.parent_first = parent_first
            taker._begin()
            chunk = taker._take(sorted([*ids, int(refused)]))
            if parent_first:
                assert chunk is None
            else:
                assert chunk is not None
                assert sorted(int(r[0]) for r in chunk.rows["enrollments"]) == sorted(ids)
            taker.rollback()
    finally:
        engine.dispose()
    assert table_checksums(url, TABLES) == before


def test_parents_first_refuses_a_session_with_foreign_key_checks_on(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """Deleting parents first with the checks on would cascade their children away unread."""
    fleet = make_fleet(request, tmp_path, "mariadb", shards=1)
    engine = sa.create_engine(fleet.shard_urls[0])
    row_filter = build_filter(GROUP.parent, status="completed")
    try:
        with engine.connect() as conn, pytest.raises(ValueError, match="foreign_key_checks"):
            ChunkTaker(conn, GROUP, row_filter, delete=True, parent_first=True)
    finally:
        engine.dispose()


@pytest.mark.parametrize("backend", ["mariadb", "postgresql"])
def test_scouted_keys_serve_only_the_chunk_they_were_read_after(
    request: pytest.FixtureRequest, tmp_path: Path, backend: str
) -> None:
    """The scout reads the candidates after a take's own, on its own connection; they go to
    the next take only when asked for by that take's last candidate key, and a scouted key
    whose row went meanwhile is simply not in the chunk."""
    fleet = make_fleet(request, tmp_path, backend, shards=1)
    ids = sorted(seed_learning(fleet)[0])
    assert len(ids) >= 5
    url = fleet.shard_urls[0]
    engine = utc_sessions(sa.create_engine(url))
    row_filter = build_filter(
        GROUP.parent, older_than="2y", date_column="completed_at", status="completed"
    )
    try:
        with (
            takers(engine, GROUP, row_filter, delete=True, count=1) as [taker],
            scout(engine, GROUP, row_filter, 2) as ahead,
        ):
            first = taker.take(None, 2, on_candidates=ahead.look_after)
            assert first is not None and taker.candidates == ids[:2]
            taker.commit()
            ahead.look_after(ids[:2])
            assert ahead.claim(ids[0]) is None  # asked for after another key: not served
            ahead.look_after(ids[:2])
            scouted = ahead.claim(ids[1])
            assert scouted == ids[2:4]
            with engine.begin() as other:  # the first scouted row goes, children with it
                other.execute(sa.text("DELETE FROM enrollments WHERE id = :e"), {"e": ids[2]})
            second = taker.take(ids[1], 2, scouted=scouted)
            assert second is not None
            assert [int(r[0]) for r in second.rows["enrollments"]] == [ids[3]]
            taker.commit()
    finally:
        engine.dispose()
    left = set(ids_in(url, "enrollments"))
    assert not set(ids[:4]) & left
    assert set(ids[4:]) <= left  # not taken: still there
