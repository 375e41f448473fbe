"""``lmsdb migrate``: Alembic across every shard primary, with replicas, locks and a journal."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from lms_db.config import require_topology_path
from lms_db.errors import FleetFailed, InputError, Interrupted, OperationError
from lms_db.fleet.fanout import DEFAULT_PARALLEL, FanoutPolicy
from lmsdb_cli.defaults import DEFAULT_LOCK_TIMEOUT, DEFAULT_REPLICA_TIMEOUT
from lmsdb_cli.output import console, print_json

# Alembic and the migrate modules are imported inside each command: `lmsdb --help` and
# the other command groups do not load them.
if TYPE_CHECKING:
    from lms_db.migrate.database import Direction
    from lms_db.migrate.run import MigrateRequest
    from lms_db.migrate.status import ShardPlan
    from lms_db.topology.spec import Topology

migrate_app = typer.Typer(
    no_args_is_help=True,
    help="Apply Alembic migrations to every shard primary (canary first, in parallel, each "
    "under a lock), wait for replicas, show where every database stands.",
)

Shard = Annotated[
    list[str] | None,
    typer.Option(
        "--shard",
        "-s",
        help="Only this shard (repeatable); default: every shard.",
        show_default=False,
    ),
]
Target = Annotated[str, typer.Option(help="oltp (shard primaries) or analytics.")]
Json = Annotated[bool, typer.Option("--json", help="Machine-readable output on stdout.")]
Scripts = Annotated[
    Path | None,
    typer.Option(
        "--scripts",
        help="Migrations directory to use instead of the one shipped with lmsdb.",
        show_default=False,
    ),
]
Parallel = Annotated[int, typer.Option(min=1, help="Shards migrated at once.")]
FailFast = Annotated[
    bool,
    typer.Option(
        "--fail-fast", help="After a shard fails, start no other shard (running ones finish)."
    ),
]
DryRun = Annotated[bool, typer.Option("--dry-run", help="Show the plan; change nothing.")]
Yes = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]
NoCanary = Annotated[
    bool,
    typer.Option(
        "--no-canary", help="Fan out at once instead of migrating the first shard alone first."
    ),
]
ReplicaTimeout = Annotated[
    float,
    typer.Option(min=0, help="Seconds to wait for each replica to reach its primary's revision."),
]
LockTimeout = Annotated[
    float,
    typer.Option(min=0, help="Seconds to wait when another run holds a database's migration lock."),
]
NoLint = Annotated[
    bool,
    typer.Option(
        "--no-lint", help="Do not lint the revisions' MySQL/MariaDB DDL first (see docs/lint.md)."
    ),
]


def _topology(ctx: typer.Context) -> Topology:
    from lms_db.topology.spec import load_topology

    return load_topology(require_topology_path(ctx.obj["settings"]))


def _timeout(ctx: typer.Context) -> float:
    return float(ctx.obj["settings"].connect_timeout)


def _run(
    ctx: typer.Context,
    request: MigrateRequest,
    json_output: bool,
    dry_run: bool,
    lint: bool = False,
) -> None:
    from lms_db.migrate.run import check_request, interrupted_summary, migrate_fleet
    from lms_db.migrate.status import plan_fleet
    from lms_db.migrate.targets import preflight
    from lmsdb_cli.migrate_render import fleet_progress, render_run

    check_request(request)
    topology = _topology(ctx)
    if dry_run:
        plans = plan_fleet(
            topology,
            target=request.target,
            revision=request.revision,
            direction=request.direction,
            shards=request.shards,
            root=request.root,
            timeout=request.connect_timeout,
        )
        _show_plans(plans, json_output)
        return
    prepared = preflight(
        topology,
        target=request.target,
        revision=request.revision,
        shards=request.shards,
        root=request.root,
        timeout=request.connect_timeout,
    )
    if lint:  # before anything changes: LintFailed is exit 1, nothing migrated
        from lms_db.migrate.lint_gate import gate_fleet

        gate_fleet(prepared, request.target, request.root, timeout=request.connect_timeout)
    with fleet_progress(len(prepared.members), enabled=not json_output) as on_event:
        run = migrate_fleet(topology, request, on_event=on_event, prepared=prepared)
    if json_output and run.ok:
        print_json(run.to_dict())
    elif not json_output:
        render_run(run)
    if run.interrupted:
        raise Interrupted(interrupted_summary(run), details=run.to_dict())
    if not run.ok:  # with --json the boundary prints the run and the error as one object
        bad = [r for r in run.results if r.failed]
        if not bad:  # every shard migrated; only the id windows failed
            raise FleetFailed(
                f"{run.windows_error}; rerun lmsdb migrate up or lmsdb shard "
                "grant-windows once the cause is fixed",
                run.results,
                details=run.to_dict(),
            )
        names = ", ".join(f"{r.shard} ({r.result})" for r in bad)
        raise FleetFailed(
            f"{len(bad)} of {len(run.results)} shard(s) not migrated: {names}. "
            f"First error: {bad[0].error}. Fix it and rerun: each shard "
            "resumes where it stopped",
            run.results,
            details=run.to_dict(),
        )


def _show_plans(plans: list[ShardPlan], json_output: bool) -> None:
    from lmsdb_cli.migrate_render import render_plan

    if json_output:
        print_json([p.to_dict() for p in plans])
    else:
        render_plan(plans)


def _request(ctx: typer.Context, revision: str, direction: Direction, **kw: Any) -> MigrateRequest:
    from lms_db.migrate.run import MigrateRequest

    policy = FanoutPolicy(
        parallel=kw.pop("parallel"), canary=not kw.pop("no_canary"), fail_fast=kw.pop("fail_fast")
    )
    return MigrateRequest(
        revision=revision,
        direction=direction,
        policy=policy,
        shards=tuple(kw.pop("shard") or ()),
        root=kw.pop("scripts"),
        connect_timeout=_timeout(ctx),
        **kw,
    )


@migrate_app.command()
def up(
    ctx: typer.Context,
    revision: Annotated[str, typer.Argument(help="Revision to reach.")] = "head",
    shard: Shard = None,
    target: Target = "oltp",
    parallel: Parallel = DEFAULT_PARALLEL,
    fail_fast: FailFast = False,
    dry_run: DryRun = False,
    no_canary: NoCanary = False,
    replica_timeout: ReplicaTimeout = DEFAULT_REPLICA_TIMEOUT,
    lock_timeout: LockTimeout = DEFAULT_LOCK_TIMEOUT,
    json_output: Json = False,
    scripts: Scripts = None,
    no_lint: NoLint = False,
) -> None:
    """Upgrade every shard primary to REVISION (default head), then wait for its replicas.

    Checks first (topology, shard names, revision, every primary reachable: exit 2, nothing
    changed), lints the DDL of the revisions each MySQL/MariaDB primary is about to run
    (an error-severity finding: exit 1, nothing changed; --no-lint skips it), creates/seeds
    the catalog, migrates the first shard alone (the canary), then the others PARALLEL at a
    time, each under its database lock, one revision per step. Ends with a per-shard
    summary; exit 1 if any shard failed. A rerun resumes where each shard stopped.

    Example:

        lmsdb -t shards/local-mariadb.toml migrate up
        lmsdb migrate up --shard shard-0 --shard shard-1 --parallel 2 --fail-fast
        lmsdb migrate up --dry-run                  # what would run where
        lmsdb migrate up --target analytics
    """
    request = _request(
        ctx,
        revision,
        "up",
        target=target,
        shard=shard,
        parallel=parallel,
        fail_fast=fail_fast,
        no_canary=no_canary,
        scripts=scripts,
        replica_timeout=replica_timeout,
        lock_timeout=lock_timeout,
    )
    _run(ctx, request, json_output, dry_run, lint=not no_lint)


@migrate_app.command()
def down(
    ctx: typer.Context,
    revision: Annotated[str, typer.Argument(help="Revision to go back to (base: drop all).")],
    shard: Shard = None,
    target: Target = "oltp",
    parallel: Parallel = DEFAULT_PARALLEL,
    fail_fast: FailFast = False,
    dry_run: DryRun = False,
    yes: Yes = False,
    no_canary: NoCanary = False,
    replica_timeout: ReplicaTimeout = DEFAULT_REPLICA_TIMEOUT,
    lock_timeout: LockTimeout = DEFAULT_LOCK_TIMEOUT,
    json_output: Json = False,
    scripts: Scripts = None,
) -> None:
    """Downgrade every shard primary to REVISION, one revision per step (drops what they made).

    Downgrades can delete tables and rows: asks for confirmation on a terminal, and refuses
    in a non-interactive run without --yes.

    Example:

        lmsdb migrate down 0001 --shard shard-2 --yes
        lmsdb migrate down base --dry-run
    """
    if not dry_run and not yes:
        if not sys.stdin.isatty():
            raise InputError(f"migrate down {revision} may drop tables and rows: pass --yes")
        typer.confirm(f"Downgrade to {revision}? Tables and rows may be dropped", abort=True)
    request = _request(
        ctx,
        revision,
        "down",
        target=target,
        shard=shard,
        parallel=parallel,
        fail_fast=fail_fast,
        no_canary=no_canary,
        scripts=scripts,
        replica_timeout=replica_timeout,
        lock_timeout=lock_timeout,
    )
    _run(ctx, request, json_output, dry_run)


@migrate_app.command()
def status(
    ctx: typer.Context,
    shard: Shard = None,
    target: Target = "oltp",
    json_output: Json = False,
    scripts: Scripts = None,
) -> None:
    """Show each shard's primary revision, each replica's revision and lag, and what is pending.

    Reads only (replicas are opened read-only). A replica whose replication does not run
    shows "stopped" (not "behind": it will not catch up by itself). Exit 1 when a database
    cannot be read or a replica is stopped.

    Example:

        lmsdb migrate status
        lmsdb migrate status --json | jq '.shards[] | select(.at_head | not)'
    """
    from lms_db.migrate.status import fleet_status
    from lmsdb_cli.migrate_render import render_status

    statuses = fleet_status(
        _topology(ctx),
        target=target,
        shards=tuple(shard or ()),
        root=scripts,
        timeout=_timeout(ctx),
    )
    if json_output:
        head = statuses[0].to_dict()["head"] if statuses else "base"
        print_json(
            {
                "target": target,
                "head": head,
                "at_head": all(s.at_head for s in statuses),
                "shards": [s.to_dict() for s in statuses],
            }
        )
    else:
        render_status(statuses)
    unreadable = [s.shard for s in statuses if s.error]
    if unreadable:
        raise OperationError(f"cannot read the revision of: {', '.join(unreadable)}")
    stopped = [
        f"{s.shard} replica {r.database}"
        for s in statuses
        for r in s.replicas
        if r.status == "stopped"
    ]
    if stopped:
        raise OperationError(
            f"replication is stopped on {', '.join(stopped)}: start it "
            "(START SLAVE / START REPLICA), then check again"
        )


@migrate_app.command()
def history(target: Target = "oltp", json_output: Json = False, scripts: Scripts = None) -> None:
    """List the revisions of a history, newest first (no database is touched).

    Example:

        lmsdb migrate history
        lmsdb migrate history --target analytics --json
    """
    from lms_db.migrate.scripts import history as read_history
    from lmsdb_cli.migrate_render import render_history

    revisions = read_history(target, scripts)
    if json_output:
        print_json([{**vars(r), "path": str(r.path)} for r in revisions])
    else:
        render_history(revisions)


@migrate_app.command()
def plan(
    ctx: typer.Context,
    revision: Annotated[str, typer.Argument(help="Revision to reach.")] = "head",
    shard: Shard = None,
    target: Target = "oltp",
    json_output: Json = False,
    scripts: Scripts = None,
) -> None:
    """Show what `migrate up` would run on each shard, flagging DDL that may block writes.

    Example:

        lmsdb migrate plan
        lmsdb migrate plan 0002 --shard shard-0 --json
    """
    from lms_db.migrate.status import plan_fleet

    plans = plan_fleet(
        _topology(ctx),
        target=target,
        revision=revision,
        shards=tuple(shard or ()),
        root=scripts,
        timeout=_timeout(ctx),
    )
    _show_plans(plans, json_output)


@migrate_app.command()
def sql(
    revision_range: Annotated[
        str,
        typer.Argument(
            metavar="FROM:TO", help="Revisions, e.g. base:head or 0001:head (TO alone: base:TO)."
        ),
    ],
    dialect: Annotated[
        str, typer.Option("--dialect", "-d", help="mysql, mariadb, postgresql or sqlite.")
    ] = "mysql",
    target: Target = "oltp",
    scripts: Scripts = None,
    no_lint: NoLint = False,
) -> None:
    """Print the SQL a range of revisions would run, for review (offline: no database).

    For mysql and mariadb the upgrade's DDL is linted first (as MySQL 8 / MariaDB 10.11):
    an error-severity finding prints one line and exits 1 with nothing on stdout;
    --no-lint skips it.

    Example:

        lmsdb migrate sql base:head --dialect mariadb > review.sql
        lmsdb migrate sql head:base --dialect postgresql     # the downgrade
    """
    from lms_db.migrate.scripts import offline_sql

    text = offline_sql(target, revision_range, dialect, scripts)
    if not no_lint:
        from lms_db.migrate.lint_gate import require_clean_revisions

        require_clean_revisions(target, revision_range, {dialect}, scripts)
    typer.echo(text, nl=False)


@migrate_app.command()
def new(
    ctx: typer.Context,
    message: Annotated[str, typer.Option("--message", "-m", help="What the revision does.")],
    shard: Annotated[
        str | None,
        typer.Option(
            "--shard",
            help="Autogenerate against this shard's primary (at head) instead of a "
            "scratch SQLite database); a shard added with shard add counts too.",
            show_default=False,
        ),
    ] = None,
    empty: Annotated[
        bool,
        typer.Option(
            "--empty",
            help="Write the revision even when the models match the database (to fill "
            "in a data migration by hand).",
        ),
    ] = False,
    target: Target = "oltp",
    scripts: Scripts = None,
    json_output: Json = False,
) -> None:
    """Write a new revision autogenerated from the models (compare a database at head).

    When the models match the database nothing is written (a new head that does nothing
    would only be noise); --empty writes one anyway.

    Example:

        lmsdb migrate new -m "add users.nickname"
        lmsdb -t shards/local-mariadb.toml migrate new -m "index payments" --shard shard-0
        lmsdb migrate new -m "backfill nicknames" --empty
        lmsdb migrate new -m "add users.nickname" --json | jq -r .path
    """
    from lms_db.migrate.autogen import new_revision, shard_primary

    against = shard_primary(_topology(ctx), shard, timeout=_timeout(ctx)) if shard else None
    written = new_revision(
        message,
        target=target,
        against=against,
        root=scripts,
        timeout=_timeout(ctx),
        allow_empty=empty,
    )
    if json_output:
        print_json(
            {
                "path": str(written.path) if written.written else None,
                "written": written.written,
                "empty": written.empty,
            }
        )
        return
    if not written.written:
        console.print(
            "the models match the database at head: no revision written (pass "
            "--empty to write one anyway)",
            highlight=False,
            markup=False,
        )
        return
    note = " (empty: the models match the database)" if written.empty else ""
    console.print(f"wrote {written.path}{note}", highlight=False, markup=False)
