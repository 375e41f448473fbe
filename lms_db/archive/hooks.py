"""Named pause points of the archive, for crash tests: the fleet's step hook (lms_db.hooks).

The points go through :func:`lms_db.fleet.steps.hit`, the hook range moves use too: with
``LMSDB_TEST_PAUSE_AT=<point>`` (or ``<point>#<n>`` for its n-th pass) a process reaching
that point writes the file named by ``LMSDB_TEST_PAUSE_FILE`` and sleeps until the test
kills its process group.  With ``LMSDB_TEST_PAUSE_MODE=stop`` the process stops itself
(SIGSTOP) instead, so a test can change the world and then let it go on (SIGCONT).  Unset
(always, in production), a pause point costs one environment lookup.  The points are
listed in :data:`PAUSE_POINTS` and in docs/archive.md.
"""

from __future__ import annotations

from lms_db.fleet.steps import hit

#: Every pause point, in the order a run meets them.
PAUSE_POINTS = (
    "delete:children",  # in a take: parents (MariaDB) or children deleted, not the rest
    "chunk:read",  # rows taken (deleted, not committed) and encoded, nothing uploaded
    "upload:sending",  # half the object's body handed to the HTTP client
    "upload:done",  # object stored, not yet verified
    "verify:done",  # object verified and journaled, the delete not yet committed
    "ahead:verified",  # the same, seen by the pipeline (the next chunk may be taken)
    "delete:committed",  # rows deleted and committed, not yet journaled
    "part:stored",  # the chunk's part object stored, the chunk not yet journaled
    "manifest:write",  # every chunk finished, the run manifest not yet written
    "restore:chunk",  # one chunk re-inserted and committed, not yet journaled
    "forget:rewritten",  # rewritten object stored and in the manifest, old not deleted
)


def pause_point(name: str) -> None:
    """Pause here if the crash-test hook names this point: :func:`lms_db.fleet.steps.hit`."""
    hit(name)
