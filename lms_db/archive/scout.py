"""Reading the next chunk's candidate keys while the current chunk is taken.

A take's first statement, the candidate read, is a plain read (it locks nothing), and the
only thing the next chunk's candidate read needs from the current chunk is where its
candidates end.  So as soon as a take knows its candidates, the scout reads the next ones
on a connection of its own, beside the take's deletes: the database server works on two
statements at once instead of one after the other (the take's statements wait for each
other, the server has a core to spare).

Scouted keys are only a hint, exactly as a candidate read in the take itself is: the take
locks or deletes the rows by key and checks them again (the filter, a blocking child), so
keys that went stale in between are dropped or make the take start over.  A scouted read
is used only for the chunk it was read after: it is keyed by the last candidate key of the
take that asked for it, and a take that failed or started over asked for another one.
Rows between a chunk's last parent and its last candidate (candidates that somebody else
deleted, or changed so that they no longer pass the filter, meanwhile) are not looked at
again in this run; the next run takes any that are eligible then.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager, suppress

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from lms_db.archive.chunks import candidate_ids
from lms_db.archive.filters import RowFilter
from lms_db.archive.tables import ArchiveGroup

log = logging.getLogger(__name__)


class Scout:
    """Reads candidate keys ahead on its own connection, one read at a time."""

    def __init__(
        self, conn: Connection, group: ArchiveGroup, row_filter: RowFilter, limit: int
    ) -> None:
        self.conn = conn
        self.group = group
        self.row_filter = row_filter
        self.limit = limit
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="archive-scout")
        self._ahead: tuple[int, Future[list[int]]] | None = None

    def look_after(self, candidates: list[int]) -> None:
        """Start reading the candidates after these (a take's, in key order)."""
        after = candidates[-1]
        self._ahead = (after, self._pool.submit(self._read, after))

    def claim(self, after: int | None) -> list[int] | None:
        """The keys read after ``after``, if that is what the last read was asked for
        (``None``: none such; the take reads its own).  A read that failed is not an
        error here: the take reads again and meets the error itself."""
        ahead, self._ahead = self._ahead, None
        if ahead is None or after is None or ahead[0] != after:
            return None
        try:
            return ahead[1].result()
        except Exception as exc:  # the take's own read meets and reports it
            log.debug("candidate read ahead failed (%s); the take reads its own", exc)
            return None

    def close(self) -> None:
        self._ahead = None
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _read(self, after: int) -> list[int]:
        try:
            return candidate_ids(self.conn, self.group, self.row_filter, after, self.limit)
        finally:
            self.conn.rollback()  # no snapshot or transaction held between reads


@contextmanager
def scout(
    engine: Engine, group: ArchiveGroup, row_filter: RowFilter, limit: int
) -> Iterator[Scout]:
    """A :class:`Scout` on a connection of its own, closed on leaving."""
    conn = engine.connect()
    if engine.dialect.name != "sqlite":
        conn = conn.execution_options(isolation_level="READ COMMITTED")
    found = Scout(conn, group, row_filter, limit)
    try:
        yield found
    finally:
        found.close()
        with suppress(sa.exc.SQLAlchemyError):
            conn.close()
