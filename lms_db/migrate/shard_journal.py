"""The ``migrate`` journal entry of one shard: opened under the shard's migration lock,
touched at every step and statement (and by a heartbeat), closed with what happened.

Because the entry is opened while holding the database's migration lock, any *other* open
``migrate`` entry of the same shard belongs to a run that is gone (killed, crashed, its
server lost): :meth:`MigrationJournal.open` closes it (state ``failed``, ``outcome:
abandoned``, naming the entry that took over) and carries its statement progress
(:class:`~lms_db.migrate.resume.StatementProgress`) into the new entry, so the revision it
left halfway is finished statement by statement.  An interrupted run closes its own entry
(``outcome: interrupted``) with the progress kept; a failed one too.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator
from typing import Any

from sqlalchemy.engine import Engine

from lms_db.catalog import (
    advance_journal_entry,
    close_journal_entry,
    holder_identity,
    latest_entry,
    open_entries,
    open_journal_entry,
)
from lms_db.catalog.journal_view import HEARTBEAT_INTERVAL
from lms_db.errors import LmsDbError
from lms_db.migrate.resume import StatementProgress

log = logging.getLogger(__name__)


class MigrationJournal:
    """One run's journal entry for one shard.

    :param catalog: the catalog engine.
    :param shard: the shard.
    :param payload: what the run does (target, direction, revision, from).
    """

    def __init__(self, catalog: Engine, shard: str, payload: dict[str, Any]) -> None:
        self.catalog = catalog
        self.shard = shard
        self.base = {**payload, "holder": holder_identity()}
        self.entry: int | None = None
        self.resume: StatementProgress | None = None
        self.progress: StatementProgress | None = None
        self.adopted: list[int] = []
        self.step = "locked"
        self._lock = threading.Lock()

    def open(self) -> int:
        """Open the entry (call under the shard's migration lock), adopting stale ones.

        :raises CatalogError: the catalog failed.
        """
        previous = latest_entry(self.catalog, self.shard, "migrate")
        if previous is not None and previous.state != "done" and isinstance(previous.payload, dict):
            self.resume = StatementProgress.from_dict(previous.payload.get("progress"))
        self.progress = self.resume
        stale = [
            e
            for e in open_entries(self.catalog, self.shard, operation="migrate")
            if e.shard == self.shard
        ]
        self.entry = open_journal_entry(
            self.catalog,
            operation="migrate",
            step=self.step,
            shard=self.shard,
            payload=self._payload(),
        )
        for e in stale:
            payload = dict(e.payload) if isinstance(e.payload, dict) else {}
            payload.update(outcome="abandoned", adopted_by=self.entry)
            close_journal_entry(self.catalog, e.id, state="failed", payload=payload)
            self.adopted.append(e.id)
            log.warning(
                "%s: journal entry %d (holder %s, step %s) was left open by a run "
                "that is gone; entry %d takes over",
                self.shard,
                e.id,
                e.holder,
                e.step,
                self.entry,
            )
        return self.entry

    def _payload(self, **extra: Any) -> dict[str, Any]:
        progress = None if self.progress is None else self.progress.to_dict()
        return {**self.base, "progress": progress, **extra}

    def advance(self, step: str) -> None:
        """Record that the run reached ``step``."""
        with self._lock:
            self.step = step
            if self.entry is not None:
                advance_journal_entry(self.catalog, self.entry, step=step, payload=self._payload())

    def record(self, progress: StatementProgress) -> None:
        """Record one statement's progress (before and after it runs)."""
        self.progress = progress
        state = (
            f"statement {progress.done + 1} running"
            if progress.inflight is not None
            else f"{progress.done} statement(s) done"
        )
        self.advance(f"up:{progress.revision}:{state}")

    def close(self, state: str, **extra: Any) -> None:
        """Close the entry; never raises (a catalog that went away is logged).

        :param state: ``done`` or ``failed``.
        :param extra: payload fields (``outcome``, ``error``, ``to``...).
        """
        if self.entry is None:
            return
        if state == "done":
            self.progress = None  # the revision finished: nothing to resume
        try:
            with self._lock:
                close_journal_entry(
                    self.catalog, self.entry, state=state, payload=self._payload(**extra)
                )
        except LmsDbError as exc:
            log.warning(
                "%s: could not close journal entry %d: %s", self.shard, self.entry, exc.message
            )
        self.entry = None

    @contextlib.contextmanager
    def heartbeat(self, interval: float = HEARTBEAT_INTERVAL) -> Iterator[None]:
        """Touch the entry every ``interval`` seconds while a long statement runs, so other
        hosts can tell a live holder from a dead one (:mod:`lms_db.catalog.journal_view`)."""
        stop = threading.Event()

        def beat() -> None:
            while not stop.wait(interval):
                with contextlib.suppress(LmsDbError):
                    self.advance(self.step)

        thread = threading.Thread(target=beat, name=f"lmsdb-heartbeat-{self.shard}", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()
