"""The move protocol's journaled steps, in order (docs/moves.md has what each one does), and
the stretches of it that a resume or an abort needs to know about."""

from __future__ import annotations

STEPS = (
    "prepare",
    "capture",
    "copy",
    "catchup",
    "freeze",
    "final_delta",
    "verify",
    "switch",
    "dest_windows",
    "source_counters",
    "delete",
    "source_windows",
    "cleanup",
)
#: Steps of ``--abort``, which undoes a move stopped before its switch.
ABORT_STEPS = ("abort_unfence", "abort_release", "abort_changelog", "abort_clear")
#: Steps after which the destination serves the range.
AFTER_SWITCH = STEPS[STEPS.index("switch") :]
#: Steps during which the changelog triggers exist on the source (the delete drops them
#: first: after the switch the changelog is never read, and the fence refuses writes).
WITH_CHANGELOG = STEPS[STEPS.index("capture") : STEPS.index("delete")]
