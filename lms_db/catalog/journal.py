"""The journal of running operations, and the id windows granted to shards.

Every step of a move, an archive run or a migration is written here before and after it
runs, so ``--resume`` knows where a crashed run stopped and other operators know who holds
what.  An entry stays ``open`` until its operation is ``done`` or ``failed``.
"""

from __future__ import annotations

import logging
import os
import socket
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from lms_db.catalog.schema import begin, id_windows, journal, utcnow
from lms_db.errors import CatalogError, UnknownObjectError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class JournalEntry:
    """One journaled operation.

    :param id: the entry's id.
    :param operation: what runs (``move``, ``archive``, ``migrate``...).
    :param shard: the shard it holds, or ``None`` for the whole fleet.
    :param keyspace: the keyspace of the range it works on, if any.
    :param lo: first key of that range.
    :param hi: first key after that range.
    :param step: the last step recorded.
    :param state: ``open``, ``done`` or ``failed``.
    :param holder: ``host:pid`` of the process that opened it.
    :param payload: step data needed to resume (JSON-compatible).
    :param created_at: when it was opened (UTC).
    :param updated_at: when its last step was recorded (UTC).
    """

    id: int
    operation: str
    shard: str | None
    keyspace: str | None
    lo: int | None
    hi: int | None
    step: str
    state: str
    holder: str
    payload: Any
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class IdWindow:
    """Ids ``lo <= id < hi`` of ``table_name`` belong to ``shard``.

    :param table_name: a sharded table.
    :param shard: the shard that may draw ids from the window.
    :param lo: first id of the window.
    :param hi: first id after the window.
    """

    table_name: str
    shard: str
    lo: int
    hi: int


def default_holder() -> str:
    """``host:pid`` of this process: who holds a journal entry."""
    return f"{socket.gethostname()}:{os.getpid()}"


def process_start(pid: int) -> int | None:
    """When process ``pid`` started (clock ticks since boot, Linux ``/proc``), so a pid the
    kernel reused for another process is not taken for the holder; ``None``: unknown."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[19])
    except (OSError, IndexError, ValueError):
        return None


def holder_identity() -> dict[str, Any]:
    """Who this process is, for a journal payload's ``holder``: host, pid and start time
    (what :mod:`lms_db.catalog.journal_view` needs to tell a live holder from a dead one)."""
    return {"host": socket.gethostname(), "pid": os.getpid(), "started": process_start(os.getpid())}


def latest_entry(bind: Engine | Connection, shard: str, operation: str) -> JournalEntry | None:
    """The newest entry of ``operation`` on ``shard``, whatever its state.

    :param bind: the catalog engine or a connection.
    :param shard: the shard.
    :param operation: ``migrate``, ``move``...
    :raises CatalogError: the database failed.
    """
    query = (
        sa.select(journal)
        .where(journal.c.shard == shard, journal.c.operation == operation)
        .order_by(journal.c.id.desc())
        .limit(1)
    )
    with begin(bind) as conn:
        row = conn.execute(query).mappings().first()
    return None if row is None else JournalEntry(**dict(row))


def open_journal_entry(
    bind: Engine | Connection,
    *,
    operation: str,
    step: str,
    shard: str | None = None,
    keyspace: str | None = None,
    lo: int | None = None,
    hi: int | None = None,
    payload: Any = None,
    holder: str | None = None,
) -> int:
    """Record the start of an operation.

    :param bind: the catalog engine, or a connection in the caller's transaction.
    :param operation: what runs (``move``, ``archive``, ``migrate``...).
    :param step: the first step's name.
    :param shard: the shard the operation holds; ``None`` holds the whole fleet.
    :param keyspace: keyspace of the range worked on, if any.
    :param lo: first key of that range.
    :param hi: first key after that range.
    :param payload: JSON-compatible data needed to resume.
    :param holder: ``host:pid``; defaults to this process.
    :returns: the new entry's id.
    :raises CatalogError: the database failed.
    """
    now = utcnow()
    values = {
        "operation": operation,
        "step": step,
        "shard": shard,
        "keyspace": keyspace,
        "lo": lo,
        "hi": hi,
        "payload": payload,
        "holder": holder or default_holder(),
        "state": "open",
        "created_at": now,
        "updated_at": now,
    }
    with begin(bind) as conn:
        key = conn.execute(journal.insert().values(**values)).inserted_primary_key
        if key is None or key[0] is None:
            raise CatalogError("the catalog returned no id for the new journal entry")
        return int(key[0])


def advance_journal_entry(
    bind: Engine | Connection, entry_id: int, *, step: str, payload: Any = None
) -> None:
    """Record that an open operation reached ``step``.

    :param bind: the catalog engine, or a connection in the caller's transaction.
    :param entry_id: the entry from :func:`open_journal_entry`.
    :param step: the step now reached.
    :param payload: new resume data; ``None`` keeps the old payload.
    :raises UnknownObjectError: no open entry has that id.
    :raises CatalogError: the database failed.
    """
    _update_open(bind, entry_id, step=step, payload=payload)


def close_journal_entry(
    bind: Engine | Connection,
    entry_id: int,
    *,
    state: str = "done",
    step: str | None = None,
    payload: Any = None,
) -> None:
    """Mark an open operation ``done`` or ``failed``.

    :param bind: the catalog engine, or a connection in the caller's transaction.
    :param entry_id: the entry from :func:`open_journal_entry`.
    :param state: ``done`` or ``failed``.
    :param step: the last step, if it changed.
    :param payload: final data (the failure reason...); ``None`` keeps the old payload.
    :raises UnknownObjectError: no open entry has that id.
    :raises CatalogError: the database failed.
    """
    if state not in ("done", "failed"):
        # A programming error, not input: callers pass a constant.
        raise ValueError(f"a journal entry closes as done or failed, not {state!r}")
    _update_open(bind, entry_id, state=state, step=step, payload=payload)


def _update_open(bind: Engine | Connection, entry_id: int, **changes: Any) -> None:
    values = {k: v for k, v in changes.items() if v is not None}
    values["updated_at"] = utcnow()
    with begin(bind) as conn:
        result = conn.execute(
            journal.update()
            .where(journal.c.id == entry_id, journal.c.state == "open")
            .values(**values)
        )
        if result.rowcount != 1:
            raise UnknownObjectError(f"no open journal entry with id {entry_id}")


def open_entries(
    bind: Engine | Connection, shard: str | None = None, *, operation: str | None = None
) -> list[JournalEntry]:
    """Operations still open, oldest first.

    :param bind: the catalog engine or a connection.
    :param shard: only entries holding this shard, plus fleet-wide ones (``shard`` unset),
        which hold every shard; ``None`` lists all.
    :param operation: only entries of this operation.
    :raises CatalogError: the database failed.
    """
    query = sa.select(journal).where(journal.c.state == "open").order_by(journal.c.id)
    if shard is not None:
        query = query.where(sa.or_(journal.c.shard == shard, journal.c.shard.is_(None)))
    if operation is not None:
        query = query.where(journal.c.operation == operation)
    with begin(bind) as conn:
        rows = conn.execute(query).mappings().all()
    return [JournalEntry(**dict(row)) for row in rows]


def read_journal_entry(bind: Engine | Connection, entry_id: int) -> JournalEntry:
    """One journal entry, whatever its state.

    :param bind: the catalog engine or a connection.
    :param entry_id: the entry's id.
    :raises UnknownObjectError: no entry has that id.
    :raises CatalogError: the database failed.
    """
    with begin(bind) as conn:
        row = conn.execute(sa.select(journal).where(journal.c.id == entry_id)).mappings().first()
    if row is None:
        raise UnknownObjectError(f"no journal entry with id {entry_id}")
    return JournalEntry(**dict(row))


def grant_id_window(
    bind: Engine | Connection, *, table_name: str, shard: str, lo: int, hi: int
) -> IdWindow:
    """Give ``shard`` the ids ``[lo, hi)`` of ``table_name``.

    :param bind: the catalog engine, or a connection in the caller's transaction.
    :param table_name: a sharded table.
    :param shard: a shard registered in the catalog.
    :param lo: first id of the window.
    :param hi: first id after the window.
    :raises CatalogError: the window overlaps one already granted, or the database failed.
    """
    with begin(bind) as conn:
        clash = conn.execute(
            sa.select(id_windows.c.shard, id_windows.c.lo, id_windows.c.hi)
            .where(id_windows.c.table_name == table_name)
            .where(id_windows.c.lo < hi, id_windows.c.hi > lo)
            .with_for_update()
        ).first()
        if clash is not None:
            raise CatalogError(
                f"id window [{lo}, {hi}) of {table_name} overlaps [{clash.lo}, {clash.hi}) "
                f"already granted to {clash.shard}"
            )
        conn.execute(
            id_windows.insert().values(
                table_name=table_name, shard=shard, lo=lo, hi=hi, granted_at=utcnow()
            )
        )
    return IdWindow(table_name=table_name, shard=shard, lo=lo, hi=hi)


def read_id_windows(bind: Engine | Connection, table_name: str | None = None) -> list[IdWindow]:
    """Granted id windows, by table then ``lo``.

    :param bind: the catalog engine or a connection.
    :param table_name: only this table's windows.
    :raises CatalogError: the database failed.
    """
    query = sa.select(
        id_windows.c.table_name, id_windows.c.shard, id_windows.c.lo, id_windows.c.hi
    ).order_by(id_windows.c.table_name, id_windows.c.lo)
    if table_name is not None:
        query = query.where(id_windows.c.table_name == table_name)
    with begin(bind) as conn:
        rows = conn.execute(query).all()
    return [IdWindow(table_name=t, shard=s, lo=int(lo), hi=int(hi)) for t, s, lo, hi in rows]
