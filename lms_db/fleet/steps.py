"""Journaled steps with hooks between them: the shared machinery of moves (and archives).

An operation is a list of named :class:`Step` values.  :func:`run_steps` runs them in order
and records each completion in the operation's journal entry (``step`` = the last step
done, ``payload`` = the state the steps share), so a run killed at any point resumes from
the first step not recorded as done.  Each step must therefore be idempotent from its own
start: a crash inside a step reruns it whole (long steps keep their own finer progress in
the state, e.g. the last primary key copied).

Hooks: before and after every step, and at any point a step names (:meth:`StepContext.point`,
e.g. ``copy:chunk``), :func:`hit` is called.  Crash tests set ``LMSDB_TEST_PAUSE_AT`` to a
point name (``before:copy``, ``after:switch``, ``copy:chunk``; ``name#3`` pauses at its third
hit) and ``LMSDB_TEST_PAUSE_FILE`` to a marker path: the process writes the marker and
waits there (:mod:`lms_db.hooks`), so the test can ``os.killpg`` the process group at exactly
that point.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import Engine

from lms_db.catalog import advance_journal_entry
from lms_db.hooks import pause_point

log = logging.getLogger(__name__)

#: Suffix of the journal's ``step`` once a step has completed.
DONE_SUFFIX = ":done"


def hit(point: str) -> None:
    """A named point was reached: pause here if the crash-test hook asks for it
    (:func:`lms_db.hooks.pause_point`, the one pause mechanism of every operation).

    :param point: ``before:<step>``, ``after:<step>`` or a point a step names.
    """
    pause_point(point)


@dataclass
class StepContext:
    """What a running step sees: the shared state and a way to save progress.

    :param catalog: the catalog engine holding the journal.
    :param entry_id: the operation's journal entry.
    :param state: JSON-compatible state shared by the steps (saved with each completion).
    :param step: the step running now.
    """

    catalog: Engine
    entry_id: int
    state: dict[str, Any]
    step: str = ""
    _last_save: float = field(default=0.0, repr=False)

    def point(self, name: str) -> None:
        """Reach a named point inside the step (a hook; see :func:`hit`).

        :param name: e.g. ``copy:chunk``.
        """
        hit(name)

    def save(self, *, every: float = 0.0) -> None:
        """Record the step's progress (the state) without completing it.

        :param every: skip the write when the last one is younger than this many seconds
            (progress writes must not become one hot row per chunk).
        """
        now = time.monotonic()
        if every and now - self._last_save < every:
            return
        self._last_save = now
        advance_journal_entry(self.catalog, self.entry_id, step=self.step, payload=self.state)


@dataclass(frozen=True)
class Step:
    """One named, idempotent step.

    :param name: the step's name, as the journal records it.
    :param run: the work; it may change ``ctx.state``, which is saved with the completion.
    """

    name: str
    run: Callable[[StepContext], None]


def completed_step(journal_step: str) -> str | None:
    """The last completed step named by a journal entry's ``step`` (``None``: none yet).

    :param journal_step: the entry's ``step`` column.
    """
    return journal_step[: -len(DONE_SUFFIX)] if journal_step.endswith(DONE_SUFFIX) else None


def remaining_steps(steps: Sequence[Step], journal_step: str) -> list[Step]:
    """The steps still to run after the journal's last completed one.

    :param steps: every step of the operation, in order.
    :param journal_step: the entry's ``step`` column.
    """
    done = completed_step(journal_step)
    names = [s.name for s in steps]
    if done is None or done not in names:
        # A step was started but not completed: rerun it (steps are idempotent).
        started = journal_step if journal_step in names else None
        return list(steps[names.index(started) :]) if started else list(steps)
    return list(steps[names.index(done) + 1 :])


def run_steps(
    ctx: StepContext,
    steps: Sequence[Step],
    *,
    on_step: Callable[[str, bool], None] | None = None,
) -> None:
    """Run ``steps`` in order, journaling each start and completion.

    :param ctx: the context (catalog, entry, shared state).
    :param steps: the steps still to run (see :func:`remaining_steps`).
    :param on_step: called with ``(name, done)`` before and after each step.
    :raises LmsDbError: what a step raised; its start stays journaled, so a resume reruns it.
    """
    for step in steps:
        ctx.step = step.name
        hit(f"before:{step.name}")
        advance_journal_entry(ctx.catalog, ctx.entry_id, step=step.name, payload=ctx.state)
        if on_step is not None:
            on_step(step.name, False)
        step.run(ctx)
        advance_journal_entry(
            ctx.catalog, ctx.entry_id, step=step.name + DONE_SUFFIX, payload=ctx.state
        )
        if on_step is not None:
            on_step(step.name, True)
        hit(f"after:{step.name}")
