"""A move's request, its checks and its plan (what ``--dry-run`` prints).

Every refusal here happens before anything is written: an unknown keyspace or shard, a
range that is empty or not inside one owner's range, a range another move holds, an
unreachable destination, or a destination whose schema is not at the history's head.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from lms_db.catalog import open_entries
from lms_db.catalog.schema import begin
from lms_db.errors import ConnectionFailed, InputError, LmsDbError
from lms_db.migrate.database import current_revision, show_revision
from lms_db.migrate.scripts import head_revision, script_directory
from lms_db.moves.mapping import owner_of
from lms_db.moves.rows import count_range
from lms_db.moves.same_server import CLIENT_PATH, SERVER_PATH, probe
from lms_db.moves.scope import TableScope, insert_order
from lms_db.router.keys import MAX_KEY, check_keyspace, parse_key
from lms_db.router.router import Router
from lms_db.topology.engines import connect_check, short_reason

log = logging.getLogger(__name__)

#: The journal operation of a range move.
MOVE_OPERATION = "move"
#: Rows per copy, delete and verify chunk.
DEFAULT_CHUNK_SIZE = 10_000
#: Seconds the freeze waits for transactions that began before it.
DEFAULT_FREEZE_TIMEOUT = 5.0
#: Catch-up passes stop (and the freeze starts) once fewer changes than this wait.
DEFAULT_FREEZE_BACKLOG = 200


@dataclass(frozen=True)
class MoveRequest:
    """What the operator asked for.

    :param keyspace: ``user`` or ``course``.
    :param lo: first key of the range.
    :param hi: first key after the range.
    :param dest: the shard that will serve the range.
    :param chunk_size: rows per copy/delete/verify chunk.
    :param max_replica_lag: pause chunks while a replica of either side lags more than
        this many seconds (``None``: no limit).
    :param throttle: seconds to sleep after each chunk.
    :param freeze_timeout: seconds the freeze may wait for open transactions.
    :param freeze_backlog: catch up until fewer changes than this wait, then freeze.
    """

    keyspace: str
    lo: int
    hi: int
    dest: str
    chunk_size: int = DEFAULT_CHUNK_SIZE
    max_replica_lag: float | None = None
    throttle: float = 0.0
    freeze_timeout: float = DEFAULT_FREEZE_TIMEOUT
    freeze_backlog: int = DEFAULT_FREEZE_BACKLOG

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (stored in the journal)."""
        return dict(vars(self))


@dataclass(frozen=True)
class TablePlan:
    """One table of the move.

    :param table: its name.
    :param rows: rows of the range on the source now.
    :param chunks: copy chunks those rows take.
    """

    table: str
    rows: int
    chunks: int


@dataclass(frozen=True)
class MovePlan:
    """What a move will do.

    :param request: the request.
    :param source: the shard serving the range now.
    :param owner_lo: first key of the source's range that holds it.
    :param owner_hi: first key after it.
    :param tables: the keyspace's tables, parents first, with their row estimates.
    :param servers: every database the move touches (masked URLs).
    :param map_version: the map version the plan was made at.
    """

    request: MoveRequest
    source: str
    owner_lo: int
    owner_hi: int
    tables: tuple[TablePlan, ...]
    servers: tuple[str, ...]
    map_version: int
    notes: tuple[str, ...] = field(default=())
    copy_path: str = "client"

    @property
    def rows(self) -> int:
        """Rows of every table in the range."""
        return sum(t.rows for t in self.tables)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            **self.request.to_dict(),
            "source": self.source,
            "owner_range": [self.owner_lo, self.owner_hi],
            "map_version": self.map_version,
            "rows": self.rows,
            "servers": list(self.servers),
            "tables": [vars(t) for t in self.tables],
            "copy_path": self.copy_path,
            "notes": list(self.notes),
        }


def parse_range(text: str) -> tuple[int, int]:
    """``LO:HI`` as two keys.

    :raises InputError: not two keys separated by ``:``, or ``LO >= HI``.
    """
    lo_text, sep, hi_text = text.partition(":")
    if not sep:
        raise InputError(f"range must be LO:HI (e.g. 0:5000), not {text!r}")
    lo = parse_key(lo_text)
    hi = MAX_KEY + 1 if hi_text.strip() in ("max", "") else parse_key(hi_text)
    if lo >= hi:
        raise InputError(f"range {text}: LO must be smaller than HI")
    return lo, hi


def split_range(router: Router, keyspace: str, at: int | str) -> tuple[int, int]:
    """The range a ``split`` at ``at`` moves: from ``at`` to the end of the range holding it.

    :raises InputError: ``at`` is the first key of its range (nothing would stay).
    """
    check_keyspace(keyspace)
    key = parse_key(at)
    found = router.shard_map.find(keyspace, key)
    if key == found.lo:
        raise InputError(
            f"{key} is the first key of {keyspace} range [{found.lo}, {found.hi}): a split "
            "there moves the whole range; use lmsdb shard move instead"
        )
    return key, found.hi


def _scopes_rows(
    conn: sa.Connection, scopes: list[TableScope], lo: int, hi: int, chunk: int
) -> tuple[TablePlan, ...]:
    out = []
    for scope in scopes:
        rows = count_range(conn, scope, lo, hi)
        out.append(TablePlan(scope.name, rows, math.ceil(rows / chunk) if rows else 0))
    return tuple(out)


def plan_move(router: Router, request: MoveRequest, *, count_rows: bool = True) -> MovePlan:
    """Check a move request against the live map and servers, and plan it.

    :param router: the Router (catalog, map, engines).
    :param request: the request.
    :param count_rows: count each table's rows of the range on the source.
    :raises InputError: any of the refusals in the module docstring.
    """
    check_keyspace(request.keyspace)
    lo, hi = request.lo, request.hi
    if not 0 <= lo < hi:
        raise InputError(f"range [{lo}, {hi}): LO must be smaller than HI")
    if request.chunk_size < 1:
        raise InputError(f"--chunk-size must be at least 1, not {request.chunk_size}")
    dest = router.location(request.dest)
    router.refresh()
    with begin(router.catalog) as conn:
        owner_lo, owner_hi, source, state = owner_of(conn, request.keyspace, lo, hi)
    if source == request.dest:
        raise InputError(f"{request.keyspace} [{lo}, {hi}) is already served by {source}")
    if state != "serving":
        raise InputError(
            f"{request.keyspace} range [{owner_lo}, {owner_hi}) on {source} is {state}: "
            "another move is running on it (lmsdb shard moves)"
        )
    for entry in open_entries(router.catalog, operation=MOVE_OPERATION):
        if isinstance(entry.payload, dict) and entry.payload.get("role") == "destination":
            entry_id = entry.payload.get("move", entry.id)
        else:
            entry_id = entry.id
        if (
            entry.keyspace == request.keyspace
            and entry.lo is not None
            and entry.hi is not None
            and entry.lo < hi
            and lo < entry.hi
        ):
            raise InputError(
                f"move {entry_id} ({request.keyspace} [{entry.lo}, {entry.hi})) is still "
                f"open on this range: lmsdb shard move --resume {entry_id} or --abort "
                f"{entry_id}"
            )
    src = router.location(source)
    if src.primary.dialect != dest.primary.dialect:
        raise InputError(
            f"{source} is {src.primary.dialect} and {request.dest} is "
            f"{dest.primary.dialect}: moves run between shards of one engine"
        )
    connect_check(dest.primary, router.pool.connect_timeout)
    head = head_revision(script_directory("oltp"))
    for name in (source, request.dest):
        engine = router.engine_for_shard(name)
        try:
            with engine.connect() as conn:
                revision = current_revision(conn)
        except sa.exc.DBAPIError as exc:
            raise ConnectionFailed(f"{name}: {short_reason(exc)}") from exc
        except LmsDbError:
            revision = None
        if revision != head:
            raise InputError(
                f"{name} is at schema revision {show_revision(revision)}, not head "
                f"{show_revision(head)}: run lmsdb migrate up first"
            )
    scopes = insert_order(request.keyspace)
    tables: tuple[TablePlan, ...] = tuple(TablePlan(s.name, 0, 0) for s in scopes)
    if count_rows:
        with router.engine_for_shard(source).connect() as conn:
            tables = _scopes_rows(conn, scopes, lo, hi, request.chunk_size)
    servers = tuple(ref.display for loc in (src, dest) for ref in (loc.primary, *loc.replicas))
    return MovePlan(
        request,
        source,
        owner_lo,
        owner_hi,
        tables,
        servers,
        router.map_version,
        copy_path=_copy_path(router, source, request.dest, scopes),
    )


def _copy_path(router: Router, source: str, dest: str, scopes: list[TableScope]) -> str:
    """The copy path the move would take now (the copy step probes again when it runs)."""
    try:
        with (
            router.engine_for_shard(source).connect() as src,
            router.engine_for_shard(dest).connect() as dst,
        ):
            return SERVER_PATH if probe(src, dst, scopes) is not None else CLIENT_PATH
    except sa.exc.DBAPIError:
        return CLIENT_PATH
