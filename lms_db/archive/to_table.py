"""``archive run TABLE --to-table ARCHIVE``: move rows into an archive table on the same shard.

The seed's ``enrollments_archive`` mode, with the archive's protocol: chunks by primary key
through the same validated filter, and per chunk ONE transaction: lock the rows, compare
their checksum with the one taken when they were read, check nothing now references them,
``INSERT INTO archive SELECT ...`` exactly those rows, delete them, and check both row
counts.  The move is atomic per chunk, so a crash leaves each chunk either moved or not; a
rerun continues after the journaled cursor and never copies a row twice (a moved row is no
longer in the source).

The archive table has no child tables: a parent with rows in a table archived with it
(``enrollments``: lesson_progress, quiz_attempts) would lose them to the cascade, so such a
parent is kept, like one with a certificate; archive those to S3 instead.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from lms_db.archive import journal
from lms_db.archive.chunks import (
    candidate_query,
    check_count,
    in_batches,
    lock_rows,
    parent_ids,
    read_chunk,
    snapshot,
    table_checks,
    write_transaction,
)
from lms_db.archive.errors import ArchiveRefused
from lms_db.archive.hooks import pause_point
from lms_db.archive.manifest import add_record, payload_totals
from lms_db.archive.protocol import ArchiveOptions, ChunkEvent
from lms_db.archive.tables import ArchiveGroup, model_table
from lms_db.fleet.steps import Step, StepContext, remaining_steps, run_steps


def table_group(group: ArchiveGroup, archive_table: str) -> tuple[ArchiveGroup, sa.Table]:
    """The group as ``--to-table`` moves it (children become blockers) and the target.

    :raises UnknownObjectError: no such table.
    :raises ArchiveRefused: the archive table lacks a column of the table, or is the table.
    """
    target = model_table(archive_table)
    if target is group.parent:
        raise ArchiveRefused(f"--to-table {archive_table}: that is the table being archived")
    missing = [c.name for c in group.parent.columns if c.name not in target.c]
    if missing:
        raise ArchiveRefused(
            f"--to-table {archive_table}: it has no column "
            f"{', '.join(missing)} of {group.parent.name}"
        )
    return ArchiveGroup(group.parent, (), (*group.blockers, *group.children)), target


class TableMover:
    """Moves one shard's eligible rows into the archive table (the caller holds the lock)."""

    def __init__(
        self,
        *,
        engine: Engine,
        catalog: Engine,
        options: ArchiveOptions,
        target: sa.Table,
        shard: str,
        entry_id: int,
        payload: dict[str, Any],
        on_chunk: Callable[[ChunkEvent], None] | None = None,
    ) -> None:
        self.engine = engine
        self.catalog = catalog
        self.options = options
        self.group = options.group
        self.target = target
        self.shard = shard
        self.entry_id = entry_id
        self.payload = payload
        self.on_chunk = on_chunk

    def run(self, journal_step: str = "start") -> None:
        ctx = StepContext(self.catalog, self.entry_id, self.payload)
        self._ctx = ctx
        steps = [
            Step("chunks", lambda _c: self._chunks()),
            Step("complete", lambda _c: self._complete()),
        ]
        run_steps(ctx, remaining_steps(steps, journal_step))
        journal.finish(self.catalog, self.entry_id, self.payload)

    def _complete(self) -> None:
        self.payload["manifest"]["state"] = "complete"

    def _chunks(self) -> None:
        dialect = self.engine.dialect.name
        while True:
            with snapshot(self.engine) as conn:
                query = candidate_query(
                    self.group, self.options.row_filter, dialect, self.payload["cursor"]
                ).limit(self.options.chunk_size)
                parents = [tuple(r) for r in conn.execute(query)]
                if not parents:
                    return
                chunk = read_chunk(conn, self.group, parents)
                ids = parent_ids(self.group, chunk)
                checks = table_checks(conn, self.group, ids)
            number = int(self.payload["next_chunk"])
            moved = self._move(ids, checks)
            pause_point("delete:committed")
            state = "moved" if moved else "superseded"
            # Running totals only: a chunk list here would make every save grow with the run.
            record = {
                "rows": {self.group.parent.name: len(ids) if moved else 0},
                "state": state,
                "superseded": 0 if moved else len(ids),
            }
            add_record(
                self.payload.setdefault("totals", payload_totals(self.payload)),
                record,
                self.group.parent.name,
            )
            self.payload["manifest"].pop("chunks", None)
            self.payload["cursor"] = ids[-1]
            self.payload["next_chunk"] = number + 1
            self.payload["progress"] = f"chunk {number}:{state}"
            self._ctx.save()
            if self.on_chunk is not None:
                self.on_chunk(ChunkEvent(self.shard, number, state, len(ids)))

    def _move(self, ids: list[int], checks: dict[str, list[Any]]) -> bool:
        parent, pk = self.group.parent, self.group.parent.c[self.group.pk]
        names = [c.name for c in parent.columns]
        with write_transaction(self.engine) as conn:
            lock_rows(conn, self.group, ids)
            if table_checks(conn, self.group, ids) != checks:
                return False
            for blocker in self.group.blockers:
                column = blocker.table.c[blocker.column]
                for batch in in_batches(ids):
                    if conn.execute(
                        sa.select(sa.func.count())
                        .select_from(blocker.table)
                        .where(column.in_(batch))
                    ).scalar_one():
                        return False
            copied = deleted = 0
            target_pk = self.target.c[self.group.pk]
            for batch in in_batches(ids):
                source = sa.select(*(parent.c[n] for n in names)).where(pk.in_(batch))
                conn.execute(
                    sa.insert(self.target).from_select([self.target.c[n] for n in names], source)
                )
                # Counted, not taken from rowcount (-1 for INSERT ... SELECT on psycopg).
                copied += conn.execute(
                    sa.select(sa.func.count()).select_from(self.target).where(target_pk.in_(batch))
                ).scalar_one()
            check_count(copied, len(ids), self.target.name)
            pause_point("delete:children")
            for batch in in_batches(ids):
                deleted += conn.execute(sa.delete(parent).where(pk.in_(batch))).rowcount
            check_count(deleted, len(ids), parent.name)
        return True
