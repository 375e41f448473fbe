"""Named pause points for crash tests: a deterministic place to ``kill -9`` a run.

With ``LMSDB_PAUSE_AT=<point>`` (or ``<point>@<n>`` for its n-th pass) a process reaching
that point writes the file named by ``LMSDB_PAUSE_FILE`` and sleeps until it is killed; the
test waits for the file, then kills the whole process group.  Unset (always, in
production), a pause point costs one dictionary lookup.  With ``LMSDB_PAUSE_MODE=stop`` the
process stops itself (SIGSTOP) instead, so a test can change the world and then let it go on
(SIGCONT).  The points are listed in :data:`PAUSE_POINTS` and in docs/archive.md.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections import Counter
from pathlib import Path

#: Every pause point, in the order a run meets them.
PAUSE_POINTS = (
    "chunk:read",          # rows read and encoded, nothing uploaded
    "upload:sending",      # half the object's body handed to the HTTP client
    "upload:done",         # object stored, not yet verified
    "verify:done",         # object verified and journaled, rows not yet deleted
    "delete:children",     # delete transaction open: children deleted, parents not yet
    "delete:committed",    # rows deleted and committed, not yet journaled
    "manifest:write",      # chunk journaled, manifest object not yet rewritten
    "restore:chunk",       # one chunk re-inserted and committed, not yet journaled
    "forget:rewritten",    # rewritten object stored and in the manifest, old not deleted
)

_passes: Counter[str] = Counter()
_lock = threading.Lock()


def pause_point(name: str) -> None:
    """Sleep forever here if ``LMSDB_PAUSE_AT`` names this point (and pass)."""
    wanted = os.environ.get("LMSDB_PAUSE_AT")
    if not wanted:
        return
    point, _, nth = wanted.partition("@")
    if point != name:
        return
    with _lock:
        _passes[name] += 1
        hit = _passes[name] == (int(nth) if nth else 1)
    if not hit:
        return
    marker = os.environ.get("LMSDB_PAUSE_FILE")
    if marker:
        Path(marker).write_text(f"{os.getpid()} {name}\n", encoding="utf-8")
    if os.environ.get("LMSDB_PAUSE_MODE") == "stop":
        # Stopped, not asleep: the test changes something, then lets the run go on (SIGCONT).
        os.kill(os.getpid(), signal.SIGSTOP)
        return
    while True:  # until the test kills the process group
        time.sleep(3600)
