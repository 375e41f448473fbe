"""``lmsdb demo``: the whole story on embedded SQLite shards, no server needed."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from lmsdb_cli.defaults import DEMO_COURSES, DEMO_USERS
from lmsdb_cli.output import console, print_json

if TYPE_CHECKING:
    from lms_db.demo import DemoStep


def demo(
    directory: Annotated[
        Path | None,
        typer.Option(
            "--dir",
            help="Keep the demo's databases here (an empty or new directory); "
            "default: a temporary directory, removed afterwards.",
            show_default=False,
        ),
    ] = None,
    users: Annotated[int, typer.Option(min=1, help="Sample users.")] = DEMO_USERS,
    courses: Annotated[int, typer.Option(min=1, help="Sample courses.")] = DEMO_COURSES,
    seed: Annotated[int, typer.Option(help="Sample data seed.")] = 7,
    json_output: Annotated[
        bool,
        typer.Option(
            "--json", help="Print the steps, routes, status and drift check as JSON, nothing else."
        ),
    ] = False,
) -> None:
    """Run the whole story on three embedded SQLite shards: migrate them to head, load sample
    data through the Router, refresh the materialized view, route keys, add a fourth shard and
    split a user range onto it (copy, catch-up, fence, verify, switch, delete), show the
    fleet's status, archive old completed enrollments to a local S3 endpoint and restore
    them, and check every database for drift.

    The archive step runs when moto is installed (pip install 'lmsdb[demo]'): the demo starts
    moto's S3 server on loopback and stops it at the end.

    Example:

        lmsdb demo
        lmsdb demo --dir /tmp/lms-demo     # keep the databases; then try
        lmsdb -t /tmp/lms-demo/topology.toml shard status
        lmsdb demo --json | jq .drift
    """
    from lms_db.demo import run_demo
    from lmsdb_cli.shard_render import render_status

    def show(step: DemoStep) -> None:
        if json_output:
            return
        console.print(
            f"[green]✓[/green] {step.name:<13} {step.detail} [dim]({step.seconds:.1f}s)[/dim]",
            highlight=False,
        )

    if directory is not None:
        report = run_demo(directory, users=users, courses=courses, seed=seed, on_step=show)
    else:
        with tempfile.TemporaryDirectory(prefix="lmsdb-demo-") as tmp:
            report = run_demo(Path(tmp), users=users, courses=courses, seed=seed, on_step=show)
    if json_output:
        print_json(
            {
                "topology": str(report.topology.path) if directory is not None else None,
                "steps": [vars(s) for s in report.steps],
                "routes": [vars(route) for _keyspace, _key, route in report.routes],
                "status": report.status.to_dict(),
                "drift": report.drift.to_dict(),
            }
        )
        return
    console.print()
    render_status(report.status, windows=False)
    if directory is not None:
        console.print(
            f"\nThe demo's databases are in {directory}; try:\n"
            f"  lmsdb -t {directory / 'topology.toml'} shard list\n"
            f"  lmsdb -t {directory / 'topology.toml'} migrate status\n"
            f"  lmsdb -t {directory / 'topology.toml'} archive list",
            highlight=False,
            markup=False,
        )
