"""``lmsdb sample``: fill a topology with deterministic, realistic LMS data."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from lms_db.config import require_topology_path
from lms_db.sample import LoadProgress, load_sample, open_sample_router, parse_skew
from lms_db.topology.spec import load_topology
from lmsdb_cli.output import console, err_console, print_json

sample_app = typer.Typer(no_args_is_help=True, help="Load realistic sample data into the shards.")


@sample_app.command()
def load(
    ctx: typer.Context,
    users: Annotated[int, typer.Option(min=0, help="Users to create.")],
    courses: Annotated[int, typer.Option(min=0, help="Courses to create.")],
    seed: Annotated[int, typer.Option(help="Random seed: the same seed gives the same data.")] = 0,
    skew: Annotated[
        str | None,
        typer.Option(
            help="User weights per user shard: '4,1,1' (sorted shard order) or 'shard-0=4'; "
            "default: even.",
            show_default=False,
        ),
    ] = None,
    add: Annotated[
        bool,
        typer.Option(
            "--add",
            help="The fleet holds sample data already: add more (new ids) instead of refusing.",
        ),
    ] = False,
    json_output: Annotated[bool, typer.Option("--json", help="Machine-readable summary.")] = False,
) -> None:
    """Generate users (with profiles, sessions, oauth links), courses (modules, lessons,
    quizzes, questions), enrollments, progress, attempts, payments, certificates, reviews,
    the global categories and coupons, and analytics events when \\[analytics] is configured.

    Every row is placed by the Router: users spread over the shards owning a user range
    (evenly unless --skew), ids drawn from each shard's id windows.  The shards must be
    migrated first (lmsdb migrate up).  A fleet that holds users already is refused (exit 2,
    nothing written) unless --add asks for more; a second load while one runs is refused.

    Example:

        lmsdb --topology shards/local-mariadb.toml sample load --users 10000 --courses 200
        lmsdb -t shards/local-sqlite.toml sample load --users 500 --courses 20 --skew 4,1,1
    """
    topology = load_topology(require_topology_path(ctx.obj["settings"]))
    with open_sample_router(
        topology, connect_timeout=ctx.obj["settings"].connect_timeout
    ) as router:
        weights = parse_skew(skew, router.shards("user"))
        bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.completed:,.0f} rows"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=err_console,
            disable=json_output,
        )
        task = bar.add_task("sample load", total=None)

        def show(p: LoadProgress) -> None:
            bar.start()  # on the first rows only: a refused load shows no bar
            bar.update(task, completed=p.rows, total=p.expected, description=p.phase)

        try:
            result = load_sample(
                router,
                users=users,
                courses=courses,
                seed=seed,
                skew=weights,
                progress=show,
                add=add,
            )
        finally:
            bar.stop()
    if json_output:
        print_json(
            {
                "seed": result.seed,
                "users": result.users,
                "courses": result.courses,
                "rows": result.rows,
                "total_rows": result.total_rows,
                "seconds": round(result.seconds, 3),
                "rows_per_second": round(result.rows_per_second),
            }
        )
        return
    console.print(
        f"loaded {result.total_rows:,} rows ({result.users:,} users, "
        f"{result.courses:,} courses, seed {result.seed}) in {result.seconds:.1f}s: "
        f"{result.rows_per_second:,.0f} rows/s",
        highlight=False,
        markup=False,
    )
