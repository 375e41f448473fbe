"""SIGINT/SIGTERM as a request to stop at the next safe point, not an exception anywhere.

Long runs (``migrate up``, ``sample load``) call :func:`handle_signals` once; from then on
Ctrl-C (SIGINT to the whole process group, workers included) or SIGTERM sets a flag, and
the work checks it with :func:`check` between statements, revisions and chunks: nothing
stops halfway through a statement, the journal records where the run stopped, and the CLI
says what was done and exits 130.  A second signal while stopping keeps the default
meaning (the process is then killed), for an operator who really wants out.

Worker processes share the flag of their parent through :func:`share`: a SIGTERM sent to
the parent alone stops the workers at their next safe point too.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from collections.abc import Iterator
from typing import Any

from lms_db.errors import Interrupted

log = logging.getLogger(__name__)

_local = threading.Event()
_shared: list[Any] = []  # a multiprocessing Event shared with the parent, if any
_received: list[str] = []


def stop_requested() -> bool:
    """Whether SIGINT/SIGTERM asked this run to stop."""
    return _local.is_set() or any(e.is_set() for e in _shared)


def request_stop(reason: str = "stop requested") -> None:
    """Ask the run to stop at its next safe point (what the signal handlers do)."""
    _received.append(reason)
    _local.set()
    for event in _shared:
        event.set()


def reason() -> str:
    """What asked the run to stop (``SIGINT``...)."""
    return _received[0] if _received else "SIGINT or SIGTERM"


def check(where: str) -> None:
    """Stop here if a signal asked to.

    :param where: the safe point, for the message (``before revision 0002``...).
    :raises Interrupted: a stop was requested.
    """
    if stop_requested():
        raise Interrupted(f"interrupted ({reason()}) {where}")


def share(event: Any) -> None:
    """Also stop when ``event`` (a ``multiprocessing`` Event of the parent) is set, and set
    it when this process is signalled; ``None`` stops sharing."""
    _shared[:] = [] if event is None else [event]


def _handler(signum: int, _frame: Any) -> None:
    name = signal.Signals(signum).name
    if stop_requested():
        signal.signal(signum, signal.SIG_DFL)  # a second signal: stop trying to be nice
    log.warning("%s received: stopping at the next safe point", name)
    request_stop(name)


@contextlib.contextmanager
def handle_signals() -> Iterator[None]:
    """Turn SIGINT/SIGTERM into a stop request for the duration (main thread only;
    elsewhere a no-op)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = {s: signal.signal(s, _handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def install_in_worker() -> None:
    """Worker processes: SIGINT/SIGTERM request a stop (for the life of the process)."""
    for s in (signal.SIGINT, signal.SIGTERM):
        signal.signal(s, _handler)


def reset() -> None:
    """Forget an earlier stop request (a new run in the same process, e.g. tests)."""
    _local.clear()
    _received.clear()
    for event in _shared:
        event.clear()
