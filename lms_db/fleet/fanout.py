"""Run one job per shard with bounded parallelism, a canary first, and fail-fast.

The first item runs alone (the canary), in this process; only if it succeeds do the others
fan out, at most ``parallel`` at a time, on the executor the caller provides (a process pool
for migrations: Alembic's ``op``/``context`` proxies are process globals, so two migrations
cannot share a process), or one after the other in this process when ``parallel`` is 1.

With ``fail_fast`` a failure stops new items from starting (those already running finish:
DDL is never interrupted halfway); items that never started get the ``skipped`` result.
Without it every item runs and each failure is reported.  A failed canary always stops the
run: that is what a canary is for.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")

#: Shards migrated at once unless ``--parallel`` says otherwise.
DEFAULT_PARALLEL = 4


@dataclass(frozen=True)
class FanoutPolicy:
    """How a fleet run spreads over shards.

    :param parallel: at most this many shards at once (1: one after the other).
    :param canary: run the first shard alone first; stop if it fails.
    :param fail_fast: after a failure, start no further shard.
    """

    parallel: int = DEFAULT_PARALLEL
    canary: bool = True
    fail_fast: bool = False


PoolFactory = Callable[[int], Executor]


@dataclass
class _Run(Generic[T, R]):
    work: Callable[[T], R]
    failed: Callable[[R], bool]
    skipped: Callable[[T], R]
    stop: threading.Event
    should_stop: Callable[[], bool]
    crashed: Callable[[T, BaseException], R] | None

    def stopping(self) -> bool:
        return self.stop.is_set() or self.should_stop()


def fan_out(
    items: Sequence[T],
    work: Callable[[T], R],
    *,
    policy: FanoutPolicy,
    failed: Callable[[R], bool],
    skipped: Callable[[T], R],
    pool: PoolFactory | None = None,
    pool_work: Callable[[T], R] | None = None,
    should_stop: Callable[[], bool] | None = None,
    crashed: Callable[[T, BaseException], R] | None = None,
) -> list[R]:
    """Run ``work`` on every item per ``policy``; results come back in ``items`` order.

    ``work`` must not raise for an expected failure: it returns a result that ``failed``
    recognises.  An unexpected exception is a bug and propagates once running items finish.

    :param items: the shards (or anything), in order; the first is the canary.
    :param work: the job for one item, run in this process (the canary, ``parallel`` 1).
    :param policy: parallelism, canary and fail-fast.
    :param failed: whether a result is a failure.
    :param skipped: the result for an item that never ran.
    :param pool: makes the executor for ``parallel`` > 1, given its size (default: threads).
    :param pool_work: the job as the executor runs it (picklable for a process pool);
        default ``work``.
    :param should_stop: when it says so (SIGINT...), no further item starts (``skipped``).
    :param crashed: the result for an item whose pool worker died (a killed process);
        without it the error propagates.
    """
    if not items:
        return []
    run = _Run(work, failed, skipped, threading.Event(), should_stop or (lambda: False), crashed)
    results: dict[int, R] = {}
    rest = list(enumerate(items))
    if policy.canary and len(items) > 1:
        index, item = rest.pop(0)
        results[index] = work(item)
        if failed(results[index]):
            log.warning("the canary failed: no other shard is started")
            return [results[index], *(skipped(i) for _, i in rest)]
    parallel = max(1, min(policy.parallel, len(rest)))
    if parallel == 1:
        results.update(_serial(rest, run, policy.fail_fast))
    else:
        make = pool or (lambda n: ThreadPoolExecutor(n, thread_name_prefix="lmsdb-shard"))
        results.update(
            _parallel(rest, run, make(parallel), pool_work or work, parallel, policy.fail_fast)
        )
    return [results[i] for i in range(len(items))]


def _serial(pending: list[tuple[int, T]], run: _Run[T, R], fail_fast: bool) -> dict[int, R]:
    results: dict[int, R] = {}
    for index, item in pending:
        if run.stopping():
            results[index] = run.skipped(item)
            continue
        results[index] = run.work(item)
        if fail_fast and run.failed(results[index]):
            run.stop.set()
    return results


def _parallel(
    pending: list[tuple[int, T]],
    run: _Run[T, R],
    executor: Executor,
    work: Callable[[T], R],
    parallel: int,
    fail_fast: bool,
) -> dict[int, R]:
    results: dict[int, R] = {}
    queue = list(pending)
    with executor as pool:
        running: dict[Future[R], tuple[int, T]] = {}
        while queue or running:
            while queue and len(running) < parallel and not run.stopping():
                index, item = queue.pop(0)
                running[pool.submit(work, item)] = index, item
            if not running:
                break
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                index, item = running.pop(future)
                try:
                    results[index] = future.result()
                except Exception as exc:  # a worker process died (kill -9, OOM)
                    if run.crashed is None:
                        raise
                    results[index] = run.crashed(item, exc)
                if fail_fast and run.failed(results[index]):
                    run.stop.set()
        for index, item in queue:
            results[index] = run.skipped(item)
    return results
