"""The archive's guarded delete: it deletes a chunk's rows only if they are, value for
value, the rows that were read, on every backend, in both of its ways (``DELETE ...
RETURNING``, and the locking re-read MySQL needs), comparing the rows a run still holds or,
after a crash, the journaled digest."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa

from lms_db.archive.chunks import read_candidates, read_chunk, snapshot
from lms_db.archive.guarded_delete import guarded_delete
from lms_db.archive.tables import archive_group, select_rows, utc_sessions
from tests.backend.archive_helpers import TABLES, ids_in, make_fleet, seed_learning
from tests.backend.router_helpers import table_checksums

GROUP = archive_group("enrollments")

#: A change made between the read and the delete, by SQL on the shard.
CHANGES: dict[str, Callable[[int], str]] = {
    "child value": lambda e: (
        f"UPDATE lesson_progress SET user_notes = 'edited' WHERE enrollment_id = {e}"
    ),
    "child added": lambda e: (
        "INSERT INTO quiz_attempts (id, quiz_id, user_id, enrollment_id, attempt_number, "
        "answers, total_points, earned_points, passed, started_at) SELECT id + 1, quiz_id, "
        "user_id, enrollment_id, 2, answers, total_points, earned_points, passed, started_at "
        f"FROM quiz_attempts WHERE enrollment_id = {e}"
    ),
    "child removed": lambda e: f"DELETE FROM lesson_progress WHERE id = {e * 10 + 1}",
    "parent value": lambda e: f"UPDATE enrollments SET completed_lessons = 99 WHERE id = {e}",
    "emoji replaced by ?": lambda e: (
        f"UPDATE lesson_progress SET user_notes = 'notes ? ∑ ''quoted''' WHERE id = {e * 10}"
    ),
}


@pytest.mark.parametrize("held", [True, False], ids=["rows-held", "digest-only"])
@pytest.mark.parametrize("returning", [True, False], ids=["returning", "locked-reread"])
@pytest.mark.parametrize("backend", ["mariadb", "postgresql", "sqlite"])
@pytest.mark.parametrize("change", [None, *CHANGES])
def test_guarded_delete_takes_exactly_the_rows_read(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    backend: str,
    returning: bool,
    held: bool,
    change: str | None,
) -> None:
    fleet = make_fleet(request, tmp_path, backend, shards=1)
    ids = seed_learning(fleet)[0]
    engine = utc_sessions(sa.create_engine(fleet.shard_urls[0]))
    try:
        parent = GROUP.parent
        with snapshot(engine) as conn:
            query = select_rows(parent, backend).where(parent.c.id.in_(ids)).order_by(parent.c.id)
            parents, types = read_candidates(conn, query, parent)
            chunk = read_chunk(conn, GROUP, parents, parent_types=types)
        if change is not None:
            with engine.begin() as conn:
                conn.exec_driver_sql(CHANGES[change](ids[1]))
        before = table_checksums(fleet.shard_urls[0], TABLES)

        rows = chunk.rows if held else None  # as the run holds them, or after a crash
        deleted = guarded_delete(
            engine, GROUP, ids, digest=chunk.digest(), rows=rows, returning=returning
        )
    finally:
        engine.dispose()

    if change is None:
        assert deleted
        assert not set(ids) & set(ids_in(fleet.shard_urls[0], "enrollments"))
        for child in ("lesson_progress", "quiz_attempts"):
            left = ids_in(fleet.shard_urls[0], child, "enrollment_id")
            assert not set(ids) & set(left), child
    else:
        assert not deleted
        assert table_checksums(fleet.shard_urls[0], TABLES) == before  # nothing deleted
