"""Archive runs in the catalog journal (operation ``archive``), one entry per run and shard.

A thin layer over :mod:`lms_db.catalog.journal`: the entry's payload holds the run's
options, its manifest, the cursor (last primary key done) and the chunk in flight, so a
rerun after a crash finds its own unfinished run and continues from the exact step.  An
open ``archive`` entry also keeps ``lmsdb migrate`` off the shard (it refuses with
ShardBusy), on top of the per-database lock both take.

Written to be swapped for the shared journaled-steps runner of the fleet layer when it
lands: :func:`open_shard_run`, :func:`save` and :func:`finish` are the whole interface.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from lms_db.catalog import (
    JournalEntry,
    advance_journal_entry,
    close_journal_entry,
    journal,
    open_journal_entry,
)
from lms_db.catalog.schema import begin

OPERATION = "archive"
RESTORE_OPERATION = "archive-restore"
FORGET_OPERATION = "archive-forget"


def archive_entries(catalog: Engine, operation: str = OPERATION) -> list[JournalEntry]:
    """Every entry of ``operation`` (open, done or failed), oldest first."""
    query = sa.select(journal).where(journal.c.operation == operation).order_by(journal.c.id)
    with begin(catalog) as conn:
        rows = conn.execute(query).mappings().all()
    return [JournalEntry(**dict(row)) for row in rows]


def open_shard_run(catalog: Engine, shard: str, payload: dict[str, Any]) -> int:
    return open_journal_entry(catalog, operation=OPERATION, step="start", shard=shard,
                              payload=payload)


def save(catalog: Engine, entry_id: int, step: str, payload: dict[str, Any]) -> None:
    advance_journal_entry(catalog, entry_id, step=step, payload=payload)


def finish(catalog: Engine, entry_id: int, payload: dict[str, Any], *,
           state: str = "done", step: str = "done") -> None:
    close_journal_entry(catalog, entry_id, state=state, step=step, payload=payload)
