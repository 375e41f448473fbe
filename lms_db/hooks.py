"""Named pause points between steps, so crash tests can kill a run at an exact place.

A long operation calls :func:`pause_point` with a stable step name at each safe point
(``migrate.revision``, ``migrate.statement``, ``sample.phase``...; moves and archives name
theirs the same way).  Nothing happens unless the process environment asks for it:

``LMSDB_TEST_PAUSE_AT=<step>[@<n>]`` (``<step>#<n>`` is the same)
    pause the *n*-th time (default: the first) this process reaches ``<step>``;
``LMSDB_TEST_PAUSE_DIR=<dir>``
    where the paused process writes ``<pid>.paused`` (its step and count), so the test
    knows the moment to ``os.killpg(..., SIGKILL)`` or send SIGINT;
``LMSDB_TEST_PAUSE_FILE=<path>``
    an exact marker path instead of the directory (the journaled steps' tests use it).

``LMSDB_TEST_PAUSE_MODE=stop``
    the process stops itself (SIGSTOP) after writing the marker instead of waiting, so a
    test can change the world and then let it go on (SIGCONT).

A paused process waits until it is killed, until the test deletes its marker file (it then
carries on: "the server died while we were paused"), or until SIGINT/SIGTERM asks it to
stop (:mod:`lms_db.interrupts`); it then returns, so the caller's interrupt check stops it
at that same safe point.  The hook is meant for tests and rehearsals; it costs one dictionary read
per call otherwise.  Following OSC's ``before_<step>``/``after_<step>`` hooks.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from collections import Counter
from pathlib import Path

import lms_db.interrupts as interrupts
from lms_db.config import pause_mode, pause_request

log = logging.getLogger(__name__)

_seen: Counter[str] = Counter()


def _wanted() -> tuple[str, int] | None:
    value = pause_request()[0]
    if not value:
        return None
    for separator in ("@", "#"):
        step, found, count = value.rpartition(separator)
        if found and count.isdigit():
            return step, int(count)
    return value, 1


def pause_point(step: str) -> None:
    """Pause here when ``LMSDB_TEST_PAUSE_AT`` names ``step`` (see the module's note).

    :param step: the step's stable name, e.g. ``migrate.statement``.
    """
    wanted = _wanted()
    if wanted is None or wanted[0] != step:
        return
    _seen[step] += 1
    if _seen[step] != wanted[1]:
        return
    _, directory, marker_path = pause_request()
    marker = Path(marker_path) if marker_path else Path(directory) / f"{os.getpid()}.paused"
    marker.write_text(f"{step}@{_seen[step]}\n", encoding="utf-8")
    log.warning("paused at %s (pid %d) for a test", step, os.getpid())
    if pause_mode() == "stop":
        os.kill(os.getpid(), signal.SIGSTOP)
        return
    while marker.exists() and not interrupts.stop_requested():
        time.sleep(0.02)
