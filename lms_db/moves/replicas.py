"""Replica checks of a move: throttle on lag, and wait until the destination's replicas
hold the range before the switch sends reads there."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from lms_db.errors import OperationError
from lms_db.migrate.replication import replication_info
from lms_db.moves.rows import count_range
from lms_db.moves.scope import TableScope
from lms_db.router.router import Router
from lms_db.topology.engines import short_reason
from lms_db.topology.spec import DatabaseRef

log = logging.getLogger(__name__)

#: Seconds a move waits for lagging replicas before it stops.
DEFAULT_LAG_WAIT = 600.0
#: Seconds the switch waits for the destination's replicas to hold the range.
DEFAULT_HOLD_WAIT = 120.0
POLL = 0.25


def _lag(engine: Engine) -> float | None:
    with engine.connect() as conn:
        return replication_info(conn).lag_seconds


def wait_for_lag(
    refs: Sequence[DatabaseRef], max_lag: float, timeout: float = DEFAULT_LAG_WAIT
) -> None:
    """Return once every replica lags at most ``max_lag`` seconds.

    :raises OperationError: a replica still lags (or cannot say) after ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    for ref in refs:
        engine = sa.create_engine(ref.url, poolclass=sa.pool.NullPool)
        try:
            while True:
                try:
                    lag = _lag(engine)
                except sa.exc.DBAPIError as exc:
                    lag, why = None, short_reason(exc)
                else:
                    why = "lag unknown (replication stopped?)"
                if lag is not None and lag <= max_lag:
                    break
                if time.monotonic() > deadline:
                    shown = why if lag is None else f"{lag:g}s behind"
                    raise OperationError(
                        f"replica {ref.display} is {shown}, above --max-replica-lag "
                        f"{max_lag:g}s, after {timeout:g}s of waiting; resume the move later"
                    )
                time.sleep(POLL)
        finally:
            engine.dispose()


def replicas_hold_range(
    router: Router,
    primary: Engine,
    replicas: Sequence[DatabaseRef],
    scopes: Sequence[TableScope],
    lo: int,
    hi: int,
    timeout: float = DEFAULT_HOLD_WAIT,
) -> None:
    """Wait until each replica has as many rows of the range, per table, as the primary.

    :raises OperationError: a replica still differs after ``timeout`` seconds.
    """
    with primary.connect() as conn:
        want = {s.name: count_range(conn, s, lo, hi) for s in scopes}
    deadline = time.monotonic() + timeout
    for ref in replicas:
        engine = router.pool.get(ref)
        while True:
            with engine.connect() as conn:
                have = {s.name: count_range(conn, s, lo, hi) for s in scopes}
            if have == want:
                break
            if time.monotonic() > deadline:
                behind = [t for t in want if have.get(t) != want[t]]
                raise OperationError(
                    f"replica {ref.display} does not hold the range yet ({', '.join(behind)} "
                    f"differ) after {timeout:g}s; the range stays frozen: resume the move"
                )
            time.sleep(POLL)
