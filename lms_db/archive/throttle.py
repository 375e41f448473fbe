"""``--max-replica-lag``: pause before each chunk while a replica of the shard lags.

pt-archiver's semantics: a replica whose lag is unknown (replication stopped, or the server
cannot say) counts as lagging.  After ``wait`` seconds of lag the shard's run stops with
one line, before reading its next chunk (nothing half-done: rerun later to continue).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from lms_db.config import DEFAULT_CONNECT_TIMEOUT
from lms_db.errors import OperationError
from lms_db.migrate.replication import read_replica
from lms_db.topology.spec import DatabaseRef

#: Seconds between two looks at a lagging replica.
POLL_SECONDS = 1.0


class ReplicaLagging(OperationError):
    """A replica lagged past ``--max-replica-lag`` for longer than the wait allowed."""

    code = "replica_lagging"
    retryable = True


@dataclass(frozen=True)
class LagThrottle:
    replicas: Sequence[DatabaseRef]
    max_lag: float
    wait: float = 600.0
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT

    def before_chunk(self) -> None:
        """Return once every replica is within ``max_lag`` seconds.

        :raises ReplicaLagging: still lagging (or unknown) after ``wait`` seconds.
        """
        start = time.monotonic()
        while True:
            late = []
            for ref in self.replicas:
                state = read_replica(ref, timeout=self.connect_timeout)
                if state.lag_seconds is None or state.lag_seconds > self.max_lag:
                    shown = "unknown" if state.lag_seconds is None else f"{state.lag_seconds:g}s"
                    late.append(f"replica {ref.display} lag {shown}")
            if not late:
                return
            if time.monotonic() - start >= self.wait:
                raise ReplicaLagging(
                    f"{'; '.join(late)} (limit {self.max_lag:g}s) for {self.wait:g}s; stopped "
                    "before the next chunk, rerun the same command later"
                )
            time.sleep(POLL_SECONDS)
