"""Open moves as the journal shows them, and the checks a resume or an abort passes first.

A resume refuses what it did not create or what no longer matches: an entry that is not an
open move, a move whose process still runs on this host, a shard map that shows the range
somewhere the journal does not expect, or a source missing the move's changelog triggers.
"""

from __future__ import annotations

import logging
import os
import socket
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from lms_db.catalog import JournalEntry, journal, open_entries, read_journal_entry
from lms_db.catalog.journal import default_holder
from lms_db.catalog.schema import begin
from lms_db.errors import InputError, MapMismatch
from lms_db.fleet.steps import completed_step
from lms_db.moves import triggers as trg
from lms_db.moves.phases import data_connection
from lms_db.moves.plan import MOVE_OPERATION
from lms_db.moves.scope import insert_order
from lms_db.moves.step_names import AFTER_SWITCH, WITH_CHANGELOG
from lms_db.router.router import Router

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OpenMove:
    """An unfinished move, with the commands that finish or undo it.

    :param move_id: its journal entry.
    :param keyspace: the keyspace.
    :param lo: first key.
    :param hi: first key after the range.
    :param source: the shard it moves from.
    :param dest: the shard it moves to.
    :param step: the last step journaled.
    :param holder: ``host:pid`` of the process that ran it last.
    :param updated_at: when the last step was journaled (UTC).
    :param resume: the command that finishes it.
    :param abort: the command that undoes it (``None``: past the switch, resume only).
    """

    move_id: int
    keyspace: str
    lo: int
    hi: int
    source: str
    dest: str
    step: str
    holder: str
    updated_at: datetime
    resume: str
    abort: str | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {**vars(self), "updated_at": self.updated_at.isoformat()}


def _step_name(journal_step: str) -> str:
    return completed_step(journal_step) or journal_step


def switched(entry: JournalEntry) -> bool:
    """Whether the move's journal says the switch may have happened (abort refused)."""
    return _step_name(entry.step) in AFTER_SWITCH


def list_moves(router: Router) -> list[OpenMove]:
    """Every open move, oldest first.

    :param router: the Router of the fleet.
    """
    out = []
    for entry in open_entries(router.catalog, operation=MOVE_OPERATION):
        payload = entry.payload if isinstance(entry.payload, dict) else {}
        if payload.get("role") == "destination" or "request" not in payload:
            continue
        can_abort = not switched(entry) or bool(payload.get("aborting"))
        out.append(
            OpenMove(
                entry.id,
                str(entry.keyspace),
                int(entry.lo or 0),
                int(entry.hi or 0),
                str(payload.get("source")),
                str(payload.get("dest")),
                entry.step,
                entry.holder,
                entry.updated_at,
                f"lmsdb shard move --resume {entry.id}",
                f"lmsdb shard move --abort {entry.id}" if can_abort else None,
            )
        )
    return out


def _alive_here(holder: str) -> bool:
    host, _, pid_text = holder.rpartition(":")
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def load_move(
    router: Router, move_id: int, *, resuming: bool
) -> tuple[JournalEntry, dict[str, Any]]:
    """The open move ``move_id`` and its state, once the checks above pass; the entry is
    taken over by this process.

    :param resuming: ``True`` for ``--resume``, ``False`` for ``--abort``.
    :raises InputError: not an open move, still running, or (abort) already switched.
    :raises MapMismatch: the map or the source no longer match the journal.
    """
    entry = read_journal_entry(router.catalog, move_id)
    payload = entry.payload if isinstance(entry.payload, dict) else {}
    if entry.operation != MOVE_OPERATION or "request" not in payload:
        raise InputError(f"journal entry {move_id} is not a move (lmsdb shard moves lists them)")
    if entry.state != "open":
        raise InputError(
            f"move {move_id} is already {entry.state}; nothing to "
            f"{'resume' if resuming else 'abort'}"
        )
    if _alive_here(entry.holder):
        raise InputError(
            f"move {move_id} is still running (process {entry.holder}); "
            "wait for it or stop it first"
        )
    state: dict[str, Any] = dict(payload)
    keyspace, lo, hi = str(entry.keyspace), int(entry.lo or 0), int(entry.hi or 0)
    source, dest = str(state["source"]), str(state["dest"])
    aborting = bool(state.get("aborting"))
    if not resuming and switched(entry) and not aborting:
        raise InputError(
            f"move {move_id} already switched {keyspace} [{lo}, {hi}) to {dest}: "
            f"it cannot be aborted; finish it with lmsdb shard move --resume "
            f"{move_id}"
        )
    router.refresh()
    found = router.shard_map.find(keyspace, lo)
    step = _step_name(entry.step)
    expect_dest = (step in AFTER_SWITCH and not aborting) or (
        step == "switch" and found.shard == dest
    )
    owner = dest if expect_dest else source
    if found.shard != owner or found.hi < hi:
        raise MapMismatch(
            f"move {move_id}: the shard map shows {keyspace} key {lo} on {found.shard} "
            f"({found.state}), but the journal expects {owner}; the map was changed outside "
            f"this move, so it is not {'resumed' if resuming else 'aborted'}"
        )
    if step in WITH_CHANGELOG and not aborting and entry.step != "capture":
        with data_connection(router.engine_for_shard(source)) as conn:
            have = trg.existing_triggers(conn, f"lmsdb_c{move_id}_")
            want = {
                n for s in insert_order(keyspace) for n in trg.trigger_names(conn, "c", move_id, s)
            }
        if want - have:
            raise MapMismatch(
                f"move {move_id}: {source} lacks the move's changelog triggers "
                f"({len(want - have)} of {len(want)} missing); they were dropped outside "
                f"this move, so changes may be lost: lmsdb shard move --abort {move_id}"
            )
    with begin(router.catalog) as conn:
        conn.execute(
            sa.update(journal).where(journal.c.id == move_id).values(holder=default_holder())
        )
    return entry, state
