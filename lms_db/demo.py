"""``lmsdb demo``: the whole story on the embedded default, with no server to install.

Three SQLite shards, a SQLite catalog and a SQLite analytics database in a work directory:
migrate them to head, load deterministic sample data through the Router, refresh the
materialized view on every shard, route a few keys, add a fourth shard and split a user
range onto it (the verified, fenced move of docs/moves.md), read the fleet's status, archive
the enrollments completed over a year ago (with their progress and attempts) to a local S3
endpoint it starts itself (moto's server on loopback, stopped at the end; only when moto is
installed: ``pip install 'lmsdb[demo]'``), restore that run, and check every database for
drift.  Each step is a library call the CLI also exposes on its own.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from lms_db.archive.local_s3 import local_s3, moto_available
from lms_db.archive.restore import RestoreReport, restore_run
from lms_db.archive.runner import ArchiveReport, ArchiveRequest, run_archive
from lms_db.archive.s3 import Store, StoreSettings
from lms_db.errors import InputError, OperationError
from lms_db.fleet.fanout import FanoutPolicy
from lms_db.migrate.drift import DriftReport, check_drift
from lms_db.migrate.run import MigrateRequest, migrate_fleet
from lms_db.moves.engine import start_move
from lms_db.moves.plan import MoveRequest, split_range
from lms_db.router import Router, ShardRoute
from lms_db.sample import load_sample
from lms_db.schema.views import refresh_view
from lms_db.shards.add import add_shard
from lms_db.shards.inventory import FleetLoad, shard_status
from lms_db.topology.spec import Topology, load_topology

DEMO_SHARDS = 3
USER_RANGE = 1_000_000
COURSE_RANGE = 10_000
DEFAULT_USERS = 600
DEFAULT_COURSES = 40
#: The demo's bucket on its local S3 endpoint.
DEMO_BUCKET = "lmsdb-demo"


@dataclass(frozen=True)
class DemoStep:
    """One finished step: what it did and how long it took."""

    name: str
    detail: str
    seconds: float


@dataclass(frozen=True)
class DemoReport:
    """Everything the demo did, for the CLI to render.

    :param topology: the topology the demo wrote and used.
    :param steps: the steps in order.
    :param routes: where a few sample keys live.
    :param status: the fleet's load after the sample data.
    :param drift: the drift check of every database.
    """

    topology: Topology
    steps: tuple[DemoStep, ...]
    routes: tuple[tuple[str, int, ShardRoute], ...]
    status: FleetLoad
    drift: DriftReport
    archive: ArchiveReport | None = None
    restore: RestoreReport | None = None


def demo_topology_text() -> str:
    """The demo's topology: three SQLite shards, catalog and analytics beside the file."""
    lines = [
        "[catalog]",
        'url = "sqlite:///catalog.db"',
        "",
        "[analytics]",
        'url = "sqlite:///analytics.db"',
    ]
    for n in range(DEMO_SHARDS):
        users = [n * USER_RANGE, (n + 1) * USER_RANGE]
        courses = [n * COURSE_RANGE, (n + 1) * COURSE_RANGE]
        lines += [
            "",
            "[[shards]]",
            f'name = "shard-{n}"',
            f'primary = "sqlite:///shard-{n}.db"',
            "replicas = []",
            f"ranges = {{ user = {users}, course = {courses} }}",
        ]
    return "\n".join(lines) + "\n"


def run_demo(
    workdir: Path,
    *,
    users: int = DEFAULT_USERS,
    courses: int = DEFAULT_COURSES,
    seed: int = 7,
    on_step: Callable[[DemoStep], None] | None = None,
) -> DemoReport:
    """Run the demo in ``workdir`` (which must be empty or not exist).

    :param workdir: where the SQLite files and the topology go.
    :param users: sample users to load.
    :param courses: sample courses to load.
    :param seed: sample data seed.
    :param on_step: called after each step (progress).
    :raises InputError: ``workdir`` is not empty, is a file or cannot be created.
    :raises OperationError: a step failed.
    """
    if workdir.exists() and not workdir.is_dir():
        raise InputError(
            f"demo directory {workdir} is a file, not a directory: pass an empty or new directory"
        )
    if workdir.exists() and any(workdir.iterdir()):
        raise InputError(f"demo directory {workdir} is not empty: pass an empty or new one")
    try:
        workdir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # a parent that is a file, no permission...
        raise InputError(f"cannot create the demo directory {workdir}: {exc.strerror}") from None
    steps: list[DemoStep] = []

    def done(name: str, detail: str, started: float) -> None:
        step = DemoStep(name, detail, time.monotonic() - started)
        steps.append(step)
        if on_step is not None:
            on_step(step)

    started = time.monotonic()
    path = workdir / "topology.toml"
    path.write_text(demo_topology_text())
    topology = load_topology(path)
    done("topology", f"{DEMO_SHARDS} SQLite shards, catalog and analytics in {workdir}", started)

    started = time.monotonic()
    revisions = []
    for target in ("oltp", "analytics"):
        # One shard at a time: SQLite has one writer per file, and the demo is small.
        run = migrate_fleet(
            topology, MigrateRequest(target=target, policy=FanoutPolicy(parallel=1))
        )
        if not run.ok:
            failed = "; ".join(f"{r.shard}: {r.error}" for r in run.results if r.failed)
            raise OperationError(f"demo: migrating {target} failed: {failed}")
        revisions.append(f"{target} at {run.revision}")
    done("migrate", f"{DEMO_SHARDS} shards and analytics: {', '.join(revisions)}", started)

    with Router.from_topology(topology, seed=True) as router:
        started = time.monotonic()
        loaded = load_sample(router, users=users, courses=courses, seed=seed)
        done(
            "sample load", f"{loaded.total_rows:,} rows ({users} users, {courses} courses)", started
        )

        started = time.monotonic()
        refreshed = [refresh_view(router.engine_for_shard(s)) for s in router.shards("course")]
        done(
            "views refresh",
            "popular_courses: "
            + ", ".join(
                f"{s} {r.rows} rows"
                for s, r in zip(router.shards("course"), refreshed, strict=True)
            ),
            started,
        )

        started = time.monotonic()
        keys = [
            ("user", 1),
            ("user", USER_RANGE + 1),
            ("user", 2 * USER_RANGE + 5),
            ("course", COURSE_RANGE + 3),
        ]
        routes = tuple((k, key, router.shard_for(k, key)) for k, key in keys)
        done("route", ", ".join(f"{k} {key} -> {r.shard}" for k, key, r in routes), started)

        started = time.monotonic()
        new_shard = f"shard-{DEMO_SHARDS}"
        add_shard(topology, new_shard, f"sqlite:///{(workdir / f'{new_shard}.db').resolve()}")
        router.refresh()
        at = _median_user(router)
        lo, hi = split_range(router, "user", at)
        moved = start_move(router, MoveRequest("user", lo, hi, new_shard))
        frozen = f"{moved.frozen_seconds:.2f}s" if moved.frozen_seconds is not None else "-"
        done(
            "split",
            f"user [{lo}, {hi}) shard-0 -> {new_shard}: {moved.rows_copied:,} rows "
            f"copied and verified, frozen {frozen}, map version {moved.map_version}",
            started,
        )

        started = time.monotonic()
        status = shard_status(router)
        done("status", f"map version {status.map_version}", started)

    archived, restored = _archive_and_restore(topology, done)

    started = time.monotonic()
    drift = check_drift(topology)
    if drift.drifted:
        raise OperationError("demo: the databases drifted from the models")
    done("schema check", "every database matches the models", started)
    return DemoReport(topology, tuple(steps), routes, status, drift, archived, restored)


def _median_user(router: Router) -> int:
    """The median user id on shard-0: the split point that halves its users."""
    import sqlalchemy as sa

    from lms_db.models import metadata

    users = metadata.tables["users"]
    with router.engine_for_shard("shard-0").connect() as conn:
        count = int(conn.execute(sa.select(sa.func.count()).select_from(users)).scalar_one())
        median = conn.execute(
            sa.select(users.c.id).order_by(users.c.id).offset(count // 2).limit(1)
        ).scalar()
    return int(median) if median is not None else USER_RANGE // 2


def _archive_and_restore(
    topology: Topology, done: Callable[[str, str, float], None]
) -> tuple[ArchiveReport | None, RestoreReport | None]:
    """Archive old completed enrollments to a local S3 endpoint, then restore the run."""
    started = time.monotonic()
    if not moto_available():
        done(
            "archive",
            "skipped: pip install 'lmsdb[demo]' for the local S3 endpoint (moto)",
            started,
        )
        return None, None
    with local_s3() as endpoint:
        demo_topology = replace(topology, archive={"endpoint_url": endpoint, "region": "us-east-1"})
        Store(StoreSettings(DEMO_BUCKET, endpoint_url=endpoint, region="us-east-1")).create_bucket()
        archived = run_archive(
            demo_topology,
            ArchiveRequest(
                table="enrollments",
                destination=f"s3://{DEMO_BUCKET}/lms",
                older_than="1y",
                date_column="completed_at",
                status="completed",
                storage_class="GLACIER",
                sse="AES256",
                chunk_size=200,
                parallel=1,
            ),
        )
        if archived.failed:
            failed = "; ".join(f"{s.shard}: {s.error}" for s in archived.shards if s.error)
            raise OperationError(f"demo: archiving failed: {failed}")
        rows = sum(s.rows.get("enrollments", 0) for s in archived.shards)
        children = sum(n for s in archived.shards for t, n in s.rows.items() if t != "enrollments")
        stored = sum(s.bytes for s in archived.shards)
        done(
            "archive",
            f"run {archived.run}: {rows} enrollments completed over a year ago and "
            f"{children} progress/attempt rows -> {archived.destination} (GLACIER, AES256, "
            f"{stored:,} bytes); the rows left the shards",
            started,
        )
        started = time.monotonic()
        restored = restore_run(demo_topology, archived.run)
        back = sum(n for s in restored.shards for n in s.inserted.values())
        done(
            "restore",
            f"run {archived.run}: Glacier restore requested, {back} rows back on their shards",
            started,
        )
    return archived, restored
