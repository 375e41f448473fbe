"""Open journal entries for people: who holds each, whether that holder still lives, and the
command that resumes or releases it (``lmsdb journal list|show|release``).

A holder is *stale* when its process is gone: on the same host, its pid is not running (or
now belongs to a process started at another time: the kernel reused the pid); on another
host, when the entry has not been touched (``updated_at``: every step and a heartbeat) for
:data:`DEFAULT_STALE_AFTER` seconds.  A stale ``migrate`` entry needs nothing: the next
``migrate up`` of its shard adopts it and finishes the revision it left halfway.  Other
operations are resumed by their own command, or released here once a person has looked.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Engine

from lms_db.catalog import (
    JournalEntry,
    close_journal_entry,
    open_entries,
    process_start,
    read_journal_entry,
)
from lms_db.catalog.schema import utcnow
from lms_db.config import DEFAULT_CONNECT_TIMEOUT
from lms_db.errors import InputError, JournalHeld
from lms_db.topology.engines import connect_check, engine_for
from lms_db.topology.spec import Topology

log = logging.getLogger(__name__)

#: Seconds without a heartbeat after which a holder on another host counts as gone.
DEFAULT_STALE_AFTER = 300.0
#: Seconds between two heartbeats of a running holder.
HEARTBEAT_INTERVAL = 15.0


@dataclass(frozen=True)
class OpenOperation:
    """One open journal entry, judged.

    :param entry: the entry.
    :param age_seconds: since it was opened.
    :param idle_seconds: since its last step or heartbeat.
    :param alive: ``True`` its holder runs, ``False`` it is gone, ``None`` unknown (another
        host, heartbeat recent).
    :param next_step: the command that resumes or releases it.
    """

    entry: JournalEntry
    age_seconds: float
    idle_seconds: float
    alive: bool | None
    next_step: str

    @property
    def stale(self) -> bool:
        """Whether its holder is gone."""
        return self.alive is False

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        e = self.entry
        return {
            "id": e.id,
            "operation": e.operation,
            "shard": e.shard,
            "step": e.step,
            "state": e.state,
            "holder": e.holder,
            "created_at": e.created_at,
            "updated_at": e.updated_at,
            "age_seconds": round(self.age_seconds, 1),
            "idle_seconds": round(self.idle_seconds, 1),
            "alive": self.alive,
            "stale": self.stale,
            "next_step": self.next_step,
            "payload": e.payload,
        }


def _seconds(since: datetime, now: datetime) -> float:
    if since.tzinfo is None and now.tzinfo is not None:
        now = now.replace(tzinfo=None)
    return max(0.0, (now - since).total_seconds())


def holder_alive(
    entry: JournalEntry, *, idle_seconds: float, stale_after: float = DEFAULT_STALE_AFTER
) -> bool | None:
    """Whether ``entry``'s holder process still runs (see the module's rule).

    :param entry: an open entry.
    :param idle_seconds: seconds since it was last touched.
    :param stale_after: the heartbeat rule for holders on other hosts.
    """
    host, _, pid_text = entry.holder.rpartition(":")
    identity = entry.payload.get("holder") if isinstance(entry.payload, dict) else None
    if host == socket.gethostname() and pid_text.isdigit():
        pid = int(pid_text)
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            pass  # runs, as another user
        started = identity.get("started") if isinstance(identity, dict) else None
        # A different start time: the pid now belongs to another process.
        return started is None or process_start(pid) in (None, started)
    return False if idle_seconds > stale_after else None


def _next_step(entry: JournalEntry, alive: bool | None) -> str:
    if entry.operation == "migrate":
        where = f" --shard {entry.shard}" if entry.shard else ""
        if alive:
            return f"running: wait for it (lmsdb journal show {entry.id})"
        return (
            f"lmsdb migrate up{where} resumes it (the run adopts the entry); or "
            f"lmsdb journal release {entry.id}"
        )
    if alive:
        return f"running: wait for it, or lmsdb journal release {entry.id} --force"
    return f"resume the {entry.operation}, or lmsdb journal release {entry.id}"


def judge(
    entry: JournalEntry, *, now: datetime | None = None, stale_after: float = DEFAULT_STALE_AFTER
) -> OpenOperation:
    """``entry`` with its holder judged alive or gone, and what to do about it."""
    now = now or utcnow()
    idle = _seconds(entry.updated_at, now)
    alive = holder_alive(entry, idle_seconds=idle, stale_after=stale_after)
    return OpenOperation(
        entry, _seconds(entry.created_at, now), idle, alive, _next_step(entry, alive)
    )


def list_open(catalog: Engine, shard: str | None = None) -> list[OpenOperation]:
    """Every open operation (of ``shard`` and fleet-wide ones, if given), oldest first.

    :raises CatalogError: the catalog cannot be read.
    """
    return [judge(e) for e in open_entries(catalog, shard)]


def show(catalog: Engine, entry_id: int) -> OpenOperation:
    """One entry, whatever its state, judged.

    :raises UnknownObjectError: no entry has that id.
    """
    return judge(read_journal_entry(catalog, entry_id))


def release(
    catalog: Engine, entry_id: int, *, force: bool = False, reason: str = "released by an operator"
) -> OpenOperation:
    """Close an open entry whose holder is gone (state ``failed``, ``outcome: released``),
    so the shard it held can be worked on again.

    :param catalog: the catalog engine.
    :param entry_id: the entry.
    :param force: release even a live holder's entry (it may then collide with the next run).
    :param reason: kept in the payload.
    :raises UnknownObjectError: no entry has that id.
    :raises InputError: the entry is not open.
    :raises JournalHeld: its holder is alive (or may be) and ``force`` is not given.
    """
    judged = show(catalog, entry_id)
    entry = judged.entry
    if entry.state != "open":
        raise InputError(f"journal entry {entry_id} is already {entry.state}: nothing to release")
    if judged.alive is not False and not force:
        state = "is alive" if judged.alive else "may be alive (another host, recent heartbeat)"
        raise JournalHeld(
            f"journal entry {entry_id} ({entry.operation} on {entry.shard or 'the fleet'}): "
            f"its holder {entry.holder} {state}; let it finish, or pass --force if you are "
            "sure it is gone"
        )
    payload = dict(entry.payload) if isinstance(entry.payload, dict) else {}
    payload.update(outcome="released", reason=reason, released_step=entry.step)
    close_journal_entry(catalog, entry_id, state="failed", payload=payload)
    log.info("journal entry %d released", entry_id)
    return judged


@contextlib.contextmanager
def catalog_of(topology: Topology, *, timeout: float = DEFAULT_CONNECT_TIMEOUT) -> Iterator[Engine]:
    """The topology's catalog engine, reachable (exit 2 otherwise), disposed after.

    :raises ConnectionFailed: the catalog server cannot be reached.
    """
    connect_check(topology.catalog, timeout)
    engine = engine_for(topology.catalog, timeout=timeout)
    try:
        yield engine
    finally:
        engine.dispose()
