"""``load_sample``: fill a topology with deterministic, realistic LMS data, placed by the Router.

Order of work: the global tables go to every shard (once: a shard that already has
categories keeps them); users are spread over the shards owning a ``user`` range (evenly, or
by ``skew`` weights) with ids from each shard's ``users`` windows, so every user id routes to
the shard holding it; each user's enrollments, progress, attempts, payments and certificates
follow on the same shard; courses, with modules, lessons, quizzes and questions, are spread
over the ``course`` shards and written last, once their statistics (enrollments, ratings) are
known, followed by the reviews.  Every id comes from an id window (:mod:`lms_db.ids.windows`).

Writing is :class:`~lms_db.sample.writer.BulkWriter`'s: on MySQL/MariaDB the rows are spooled
to a file per shard and table and bulk-loaded at the end (``LOAD DATA``), elsewhere each
round of users is a transaction per shard written while the next round is generated.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import sqlalchemy as sa

import lms_db.hooks as hooks
import lms_db.interrupts as interrupts
from lms_db.errors import ConfigError, InputError, Interrupted
from lms_db.ids.windows import IdWindows
from lms_db.router.keys import key_table, keyspace_tables
from lms_db.router.router import Router
from lms_db.sample import courses as course_gen
from lms_db.sample import users as user_gen
from lms_db.sample.guard import load_guard
from lms_db.sample.rollback import roll_back
from lms_db.sample.writer import Batch, BulkWriter, Rows, TextRows
from lms_db.topology.engines import connect_check

log = logging.getLogger(__name__)

#: Users generated per round (one batch per shard per round: a transaction, or an append to
#: the spool files).
DEFAULT_BATCH_USERS = 2_000
#: Ids reserved from a window at a time, per shard and table.
ID_BLOCK = 100_000
#: Rough rows per user and per course, for the progress bar's total.
ROWS_PER_USER, ROWS_PER_COURSE = 22, 22

COLUMNS = {**course_gen.COLUMNS, **user_gen.COLUMNS}
_COURSE_TABLES = (
    "courses",
    "course_modules",
    "module_lessons",
    "quizzes",
    "quiz_questions",
    "course_reviews",
)


@dataclass(frozen=True)
class LoadProgress:
    """Where a load stands (handed to the ``progress`` callback).

    While the data is generated (phases ``global``, ``users``, ``courses``), ``rows`` counts
    the rows generated and handed to the writer and ``expected`` is an estimate; in the last
    phase, ``writing``, ``rows`` counts the rows committed and ``expected`` is exact.  (On
    MySQL/MariaDB most rows are committed in that phase, when the spooled files are loaded;
    elsewhere most are committed while the data is generated.)

    :param rows: rows generated so far, or committed so far while ``writing``.
    :param expected: the rows the load will write (an estimate until ``writing``).
    :param phase: ``global``, ``users``, ``courses`` or ``writing``.
    """

    rows: int
    expected: int
    phase: str


@dataclass(frozen=True)
class LoadResult:
    """What a load wrote.

    :param seed: the seed used.
    :param users: users generated.
    :param courses: courses generated.
    :param rows: rows written per shard (and ``analytics``) and table.
    :param seconds: wall time of the load.
    """

    seed: int
    users: int
    courses: int
    rows: dict[str, dict[str, int]] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def total_rows(self) -> int:
        """Rows written in all."""
        return sum(sum(t.values()) for t in self.rows.values())

    @property
    def rows_per_second(self) -> float:
        """The load rate."""
        return self.total_rows / self.seconds if self.seconds > 0 else 0.0


def parse_skew(text: str | None, shards: Sequence[str]) -> list[float] | None:
    """``--skew`` as weights in shard order: ``"4,1,1"`` or ``"shard-0=4,shard-2=2"``.

    :param text: what the user wrote (``None``: even spread).
    :param shards: the shards owning a user range, sorted.
    :raises InputError: malformed, negative, all zero, or naming an unknown shard.
    """
    if text is None or not text.strip():
        return None
    parts = [p.strip() for p in text.split(",") if p.strip()]
    try:
        if all("=" in p for p in parts):
            named = {k.strip(): float(v) for k, v in (p.split("=", 1) for p in parts)}
            unknown = sorted(set(named) - set(shards))
            if unknown:
                raise InputError(
                    f"--skew names unknown shard(s) {', '.join(unknown)} "
                    f"(user shards: {', '.join(shards)})"
                )
            weights = [named.get(s, 0.0) for s in shards]
        else:
            weights = [float(p) for p in parts]
    except ValueError:
        raise InputError(f"--skew {text!r}: give weights like 4,1,1 or shard-0=4") from None
    if len(weights) != len(shards):
        raise InputError(
            f"--skew gives {len(weights)} weights for {len(shards)} user shards "
            f"({', '.join(shards)})"
        )
    if any(w < 0 for w in weights) or sum(weights) <= 0:
        raise InputError("--skew weights must be >= 0 and not all 0")
    return weights


def _spread(count: int, weights: Sequence[float]) -> list[int]:
    """``count`` split in proportion to ``weights`` (largest remainders)."""
    total = sum(weights)
    exact = [count * w / total for w in weights]
    out = [int(x) for x in exact]
    order = sorted(range(len(weights)), key=lambda i: (out[i] - exact[i], i))
    for i in order[: count - sum(out)]:
        out[i] += 1
    return out


class _Ids:
    """Ids handed out one by one from blocks reserved in each shard's windows."""

    def __init__(self, windows: IdWindows, router: Router) -> None:
        self.windows = windows
        self.router = router
        self.blocks: dict[tuple[str, str], range] = {}
        #: Every block reserved, per shard and table: what a rollback deletes.
        self.taken: dict[tuple[str, str], list[range]] = defaultdict(list)
        # The unused rest of each block: a dict lookup and next() per id (the hot path).
        self._left: dict[tuple[str, str], Iterator[int]] = {}

    def take(self, shard: str, table: str, count: int = ID_BLOCK) -> range:
        last = self.blocks.get((shard, table), range(0))
        block = self.windows.reserve(shard, table, count, after=last[-1] if last else 0)
        self.blocks[(shard, table)] = block
        self.taken[(shard, table)].append(block)
        self._left[(shard, table)] = iter(block)
        return block

    def take_all(self, shard: str, table: str, count: int) -> list[int]:
        """Exactly ``count`` fresh ids (:meth:`IdWindows.reserve_many`), none of them handed
        out again by :meth:`__call__`."""
        last = self.blocks.get((shard, table), range(0))
        out = self.windows.reserve_many(shard, table, count, after=last[-1] if last else 0)
        start = 0
        for i in range(1, len(out) + 1):  # recorded as runs of consecutive ids
            if i == len(out) or out[i] != out[i - 1] + 1:
                self.taken[(shard, table)].append(range(out[start], out[i - 1] + 1))
                start = i
        if out:
            self.blocks[(shard, table)] = range(out[-1], out[-1] + 1)
            self._left[(shard, table)] = iter(())
        return out

    def __call__(self, shard: str, table: str) -> int:
        left = self._left.get((shard, table))
        if left is not None:
            for next_id in left:
                return next_id
        self.take(shard, table)
        return next(self._left[(shard, table)])


def _check_ready(router: Router) -> dict[str, bool]:
    """Every shard has the schema; returns which ones already hold the global tables' rows.

    :raises ConfigError: a shard has no schema.
    """

    def probe(shard: str, conn: sa.Connection) -> bool:
        if not sa.inspect(conn).has_table("users"):
            raise ConfigError(f"shard {shard} has no schema: run `lmsdb migrate up` first")
        return bool(conn.execute(sa.text("SELECT COUNT(*) FROM course_categories")).scalar())

    return router.scatter("global", probe, parallel=max(1, len(router.shards())))


def load_sample(
    router: Router,
    *,
    users: int,
    courses: int,
    seed: int = 0,
    skew: Sequence[float] | Mapping[str, float] | None = None,
    progress: Callable[[LoadProgress], None] | None = None,
    batch_users: int = DEFAULT_BATCH_USERS,
    windows: IdWindows | None = None,
    add: bool = False,
) -> LoadResult:
    """Generate and write sample data; the same seed on the same map gives the same rows.

    :param router: the Router (placement, engines, id windows).
    :param users: users to create (spread over the shards owning a ``user`` range).
    :param courses: courses to create (spread over the ``course`` shards); needs a user.
    :param seed: the random seed.
    :param skew: user weights per user shard (in sorted shard order, or by name).
    :param progress: called as rows are generated, then as they are committed
        (:class:`LoadProgress`).
    :param batch_users: users per round.
    :param windows: the id windows to draw from (default: the Router's, default sizes).
    :param add: the fleet may hold sample data already: add more (new ids, new random
        stream) instead of refusing.
    :raises InputError: negative counts, courses without users, bad skew, another load
        running.
    :raises AlreadyLoaded: the fleet holds users and ``add`` is false (nothing written).
    :raises ConfigError: no shard owns a needed range, or a shard has no schema.
    :raises RangeFrozen: a range the load would write to is frozen.
    :raises OperationError: a write failed (each batch, or each spooled table file on
        MySQL/MariaDB, is a transaction: those committed before it stay).
    :raises Interrupted: SIGINT/SIGTERM: the load stopped between two rounds and deleted
        every row it had written (:mod:`lms_db.sample.rollback`).
    """
    if users < 0 or courses < 0:
        raise InputError("--users and --courses must be >= 0")
    if courses and not users:
        raise InputError("courses need instructors: give --users 1 or more")
    user_shards, course_shards = router.shards("user"), router.shards("course")
    if (users and not user_shards) or (courses and not course_shards):
        raise ConfigError("the shard map has no user or course range to place rows in")
    if isinstance(skew, Mapping):
        skew = [float(skew.get(s, 0.0)) for s in user_shards]
    weights = list(skew) if skew is not None else [1.0] * len(user_shards)
    if users and (len(weights) != len(user_shards) or sum(weights) <= 0):
        raise InputError(f"skew needs {len(user_shards)} weights, not all 0")
    all_shards = router.shards()
    for shard in all_shards:  # before anything is written: unreachable is bad input (exit 2)
        connect_check(
            router.location(shard).primary, router.pool.connect_timeout, f"shard {shard} primary"
        )
    has_globals = _check_ready(router)
    events = router.topology.analytics is not None
    if events and not sa.inspect(router.analytics_engine()).has_table("user_events"):
        raise ConfigError("the analytics database has no user_events table: migrate it first")

    with load_guard(router, add=add) as existing:
        started = time.perf_counter()
        # A second load (--add) draws its own random stream: uuids and codes never repeat.
        rng = random.Random(f"{seed}:{existing}" if existing else seed)
        ids = _Ids(windows or IdWindows(router), router)
        written: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        tracker = _Tracker(progress, users * ROWS_PER_USER + courses * ROWS_PER_COURSE)
        engines = {s: router.engine_for_shard(s) for s in all_shards}
        if events:
            engines["analytics"] = router.analytics_engine()
        writer = BulkWriter(engines, on_written=tracker.committed)
        fresh_globals = [s for s in all_shards if not has_globals[s]]
        try:
            with interrupts.handle_signals():
                _generate_and_write(
                    router,
                    writer,
                    ids,
                    written,
                    tracker,
                    rng,
                    users=users,
                    courses=courses,
                    weights=weights,
                    events=events,
                    batch_users=batch_users,
                    fresh_globals=fresh_globals,
                )
        except Interrupted as exc:
            writer.abort()
            deleted = roll_back(router, ids.taken, fresh_globals, events=events)
            raise Interrupted(
                f"sample load interrupted ({interrupts.reason()}) and rolled back: "
                f"the {deleted:,} rows it had written are deleted, nothing of it "
                "remains; run it again to load"
            ) from exc
        except BaseException:
            writer.abort()
            raise
        return LoadResult(
            seed,
            users,
            courses,
            {k: dict(v) for k, v in written.items()},
            time.perf_counter() - started,
        )


def _generate_and_write(
    router: Router,
    writer: BulkWriter,
    ids: _Ids,
    written: dict[str, dict[str, int]],
    tracker: _Tracker,
    rng: random.Random,
    *,
    users: int,
    courses: int,
    weights: Sequence[float],
    events: bool,
    batch_users: int,
    fresh_globals: Sequence[str],
) -> None:
    """The load's body; stops with :class:`Interrupted` between rounds on SIGINT/SIGTERM."""
    user_shards, course_shards = router.shards("user"), router.shards("course")
    writer.open(list(writer.engines))  # connects to every database at once
    _load_globals(rng, writer, written, fresh_globals, tracker)
    hooks.pause_point("sample.phase")  # globals handed over, users next
    counts = _spread(users, weights) if users else []
    user_ids = {
        s: list(ids.take_all(s, "users", n)) for s, n in zip(user_shards, counts, strict=False)
    }
    for block in user_ids.values():
        for uid in (block[0], block[-1]) if block else ():
            router.check_writable("user", uid)
    order = [s for s, n in zip(user_shards, counts, strict=False) for _ in range(n)]
    rng.shuffle(order)
    cursor = {s: iter(v) for s, v in user_ids.items()}
    placed = [(s, next(cursor[s])) for s in order]
    # One block per shard and table before any batch is written: reserving moves the
    # AUTO_INCREMENT counter (ALTER TABLE), which waits for open transactions on the table.
    for keyspace, shards in (
        ("user", user_shards if users else ()),
        ("course", course_shards if courses else ()),
    ):
        for shard in shards:
            for table in keyspace_tables(keyspace):
                if table.name in ids.windows.table_names and key_table(table) is None:
                    ids.take(shard, table.name)
    plans = _plan_courses(rng, router, ids, courses, course_shards, placed)
    tracker.phase = "users"
    published = [p for p in plans if p.published] or plans
    instructors = {uid for _, uid, _ in _instructors(placed, courses)}
    reviews: dict[str, Rows] = {}
    for start in range(0, len(placed), batch_users):
        interrupts.check("between two rounds of users")
        out = _RoundRows(writer)
        for shard, uid in placed[start : start + batch_users]:
            role = "instructor" if uid in instructors else "student"
            user_gen.user_rows(rng, uid, shard, role, published, ids, out, events=events)
        for key, tables in out.items():
            # Reviews live on the course's shard, after the courses (written last).
            _gather(reviews, key, tables.pop("course_reviews", None))
            _submit(writer, written, key, tables, tracker)
    tracker.phase = "courses"
    hooks.pause_point("sample.phase")  # users handed over, courses next
    interrupts.check("before the courses")
    _write_courses(writer, written, plans, reviews, tracker)
    interrupts.check("before the last writes")
    tracker.writing()
    writer.close()


def _instructors(placed: Sequence[tuple[str, int]], courses: int) -> list[tuple[str, int, int]]:
    """``(shard, user id, index)`` of the users who teach: the first third of ``courses``."""
    k = min(len(placed), max(1, courses // 3)) if courses else 0
    return [(s, uid, i) for i, (s, uid) in enumerate(placed[:k])]


def _plan_courses(
    rng: random.Random,
    router: Router,
    ids: _Ids,
    courses: int,
    course_shards: Sequence[str],
    placed: Sequence[tuple[str, int]],
) -> list[course_gen.CoursePlan]:
    teachers = [(uid, f"Instructor {i + 1}") for _, uid, i in _instructors(placed, courses)]
    plans = []
    counts = _spread(courses, [1.0] * len(course_shards)) if courses else []
    for shard, n in zip(course_shards, counts, strict=False):
        course_ids = ids.take_all(shard, "courses", n)
        for key in (course_ids[0], course_ids[-1]) if course_ids else ():
            router.check_writable("course", key)
        for course_id in course_ids:
            out: course_gen.Rows = defaultdict(list)
            plans.append(
                course_gen.course_rows(rng, course_id, shard, rng.choice(teachers), ids, out)
            )
    return plans


class _Tracker:
    """Counts rows for the ``progress`` callback: generated (main thread), then committed
    (writer threads) once the load is ``writing``."""

    def __init__(self, progress: Callable[[LoadProgress], None] | None, expected: int) -> None:
        self.progress = progress
        self.expected = expected
        self.phase = "global"
        self.generated = 0
        self.done = 0
        self._lock = threading.Lock()

    def handed(self, rows: int) -> None:
        self.generated += rows
        if self.progress is not None:
            self.progress(
                LoadProgress(self.generated, max(self.expected, self.generated), self.phase)
            )

    def writing(self) -> None:
        with self._lock:
            self.phase = "writing"
            done = self.done
        if self.progress is not None:
            self.progress(LoadProgress(done, self.generated, "writing"))

    def committed(self, rows: int) -> None:  # called from the writer threads
        with self._lock:
            self.done += rows
            done, writing = self.done, self.phase == "writing"
        if writing and self.progress is not None:
            self.progress(LoadProgress(done, max(self.generated, done), "writing"))


class _TableRows(dict[str, Rows]):
    """One database's rows of a round, per table: :class:`TextRows` when the writer takes
    text (each row is rendered as the generator appends it), else lists of tuples."""

    def __init__(self, text: bool) -> None:
        super().__init__()
        self.text = text

    def __missing__(self, table: str) -> Rows:
        rows: Rows = TextRows(len(COLUMNS[table])) if self.text else []
        self[table] = rows
        return rows


class _RoundRows(dict[str, _TableRows]):
    """A round's rows per database (the generator's ``out``)."""

    def __init__(self, writer: BulkWriter) -> None:
        super().__init__()
        self.writer = writer

    def __missing__(self, key: str) -> _TableRows:
        tables = self[key] = _TableRows(self.writer.takes_text(key))
        return tables


def _gather(into: dict[str, Rows], key: str, rows: Rows | None) -> None:
    """Add ``rows`` to ``into[key]`` (rows of one database: the same kind each time)."""
    if not rows:
        return
    have = into.setdefault(key, rows)
    if have is rows:
        return
    if isinstance(have, TextRows):
        have.extend(rows)
    else:
        assert not isinstance(rows, TextRows)
        have.extend(rows)


def _submit(
    writer: BulkWriter,
    written: dict[str, dict[str, int]],
    key: str,
    tables: Mapping[str, Rows],
    tracker: _Tracker,
) -> None:
    order = (
        ["user_events"]
        if key == "analytics"
        else [
            t.name
            for t in keyspace_tables("user") + keyspace_tables("course") + keyspace_tables("global")
        ]
    )
    batch: Batch = [(t, COLUMNS[t], tables[t]) for t in order if tables.get(t)]
    for table, _, rows in batch:
        written[key][table] += len(rows)
    writer.submit(key, batch)
    tracker.handed(sum(len(rows) for _, _, rows in batch))


def _load_globals(
    rng: random.Random,
    writer: BulkWriter,
    written: dict[str, dict[str, int]],
    shards: Sequence[str],
    tracker: _Tracker,
) -> None:
    """The global tables' rows to every shard in ``shards`` (those without them yet)."""
    rows = course_gen.global_rows(rng)
    for shard in shards:
        _submit(writer, written, shard, {t: list(r) for t, r in rows.items()}, tracker)


def _write_courses(
    writer: BulkWriter,
    written: dict[str, dict[str, int]],
    plans: Sequence[course_gen.CoursePlan],
    reviews: Mapping[str, Rows],
    tracker: _Tracker,
) -> None:
    by_shard: dict[str, dict[str, list[tuple[object, ...]]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for plan in plans:
        tables = by_shard[plan.shard]
        tables["courses"].append(course_gen.finish_course(plan))
        for table, rows in plan.rows.items():
            tables[table].extend(rows)
    for shard in list(by_shard) + [s for s in reviews if s not in by_shard]:
        tables = by_shard[shard]
        for table in _COURSE_TABLES:  # parents first; one transaction per chunk
            these: Rows = (
                reviews.get(shard, []) if table == "course_reviews" else tables.get(table, [])
            )
            if isinstance(these, TextRows):  # already text: one piece
                _submit(writer, written, shard, {table: these}, tracker)
                continue
            for start in range(0, len(these), 20_000):
                _submit(writer, written, shard, {table: these[start : start + 20_000]}, tracker)
