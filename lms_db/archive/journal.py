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

import os
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from lms_db.catalog import (
    JournalEntry,
    advance_journal_entry,
    close_journal_entry,
    default_holder,
    journal,
    open_journal_entry,
)
from lms_db.catalog.schema import begin, utcnow

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
    return open_journal_entry(
        catalog, operation=OPERATION, step="start", shard=shard, payload=payload
    )


def save(catalog: Engine, entry_id: int, step: str, payload: dict[str, Any]) -> None:
    advance_journal_entry(catalog, entry_id, step=step, payload=payload)


def finish(
    catalog: Engine,
    entry_id: int,
    payload: dict[str, Any],
    *,
    state: str = "done",
    step: str = "done",
) -> None:
    close_journal_entry(catalog, entry_id, state=state, step=step, payload=payload)


def replace_payload(catalog: Engine, entry_id: int, payload: dict[str, Any]) -> None:
    """Rewrite a closed entry's payload (``forget`` updates a finished run's manifest copy)."""
    with begin(catalog) as conn:
        conn.execute(
            journal.update()
            .where(journal.c.id == entry_id)
            .values(payload=payload, updated_at=utcnow())
        )


def close_stale(catalog: Engine, operation: str) -> list[int]:
    """Close (as failed) open ``operation`` entries whose holder was a process of this host
    that no longer runs: a restore or forget killed halfway, which would otherwise hold
    every shard against ``lmsdb migrate`` for ever.  Entries of other hosts are left."""
    host = default_holder().rsplit(":", 1)[0]
    closed = []
    for entry in archive_entries(catalog, operation):
        if entry.state != "open":
            continue
        holder_host, _, pid = entry.holder.rpartition(":")
        if holder_host != host or not pid.isdigit() or _alive(int(pid)):
            continue
        payload = dict(entry.payload or {})
        payload["closed_because"] = "its process had died"
        close_journal_entry(catalog, entry.id, state="failed", payload=payload)
        closed.append(entry.id)
    return closed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
