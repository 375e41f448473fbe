"""``lmsdb archive``: old rows to S3/Glacier objects, verified before any delete, and back."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer

from lms_db.config import require_topology_path
from lms_db.errors import InputError
from lmsdb_cli.archive_render import (
    chunk_progress,
    render_forget,
    render_report,
    render_restore,
    render_rows,
)
from lmsdb_cli.defaults import DEFAULT_LOCK_TIMEOUT
from lmsdb_cli.output import print_json

# The archive library (boto3, SQLAlchemy) is imported inside each command: `lmsdb --help`
# and the other command groups do not load it.
if TYPE_CHECKING:
    from lms_db.topology.spec import Topology

archive_app = typer.Typer(
    no_args_is_help=True,
    help="Archive old rows to S3/Glacier (verified before anything is deleted), list and "
    "verify runs, restore them, erase one user's rows from the archive.",
)

Json = Annotated[bool, typer.Option("--json", help="Machine-readable output on stdout.")]
Yes = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]


def _topology(ctx: typer.Context) -> Topology:
    from lms_db.topology.spec import load_topology

    return load_topology(require_topology_path(ctx.obj["settings"]))


def _timeout(ctx: typer.Context) -> float:
    return float(ctx.obj["settings"].connect_timeout)


@archive_app.command()
def run(
    ctx: typer.Context,
    table: Annotated[str, typer.Argument(help="The table, e.g. enrollments.")],
    to: Annotated[
        str | None,
        typer.Option(
            "--to",
            help="s3://BUCKET/PREFIX (default: bucket and prefix of [archive]).",
            show_default=False,
        ),
    ] = None,
    older_than: Annotated[
        str | None,
        typer.Option(
            help="Only rows whose --date-column is older than this: 90d, 12w, 18m, 2y.",
            show_default=False,
        ),
    ] = None,
    date_column: Annotated[
        str | None,
        typer.Option(
            help="The date column --older-than applies to, e.g. completed_at.", show_default=False
        ),
    ] = None,
    status: Annotated[
        str | None,
        typer.Option(help="Only rows with this status, e.g. completed.", show_default=False),
    ] = None,
    where: Annotated[
        list[str] | None,
        typer.Option(
            "--where",
            help='"COLUMN OP VALUE" (repeatable), OP one of = != < <= > >= like in is; '
            "checked against the table, always bound, never pasted into SQL.",
            show_default=False,
        ),
    ] = None,
    shard: Annotated[
        list[str] | None,
        typer.Option(
            "--shard",
            "-s",
            help="Only this shard (repeatable); default: every shard.",
            show_default=False,
        ),
    ] = None,
    chunk_size: Annotated[
        int, typer.Option(min=1, help="Parent rows per chunk (one object, one delete transaction).")
    ] = 1000,
    storage_class: Annotated[
        str | None,
        typer.Option(
            help="STANDARD, STANDARD_IA, GLACIER_IR, GLACIER or DEEP_ARCHIVE (default: [archive] "
            "storage_class, else STANDARD).",
            show_default=False,
        ),
    ] = None,
    sse: Annotated[
        str | None,
        typer.Option(help="Server-side encryption: AES256 or aws:kms.", show_default=False),
    ] = None,
    kms_key_id: Annotated[
        str | None, typer.Option(help="KMS key for --sse aws:kms.", show_default=False)
    ] = None,
    format_: Annotated[str, typer.Option("--format", help="jsonl (zstd) or parquet.")] = "jsonl",
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run", help="Count per shard what would go, with a sample; change nothing."
        ),
    ] = False,
    no_delete: Annotated[
        bool, typer.Option("--no-delete", help="Copy to the store and verify; delete nothing.")
    ] = False,
    to_table: Annotated[
        str | None,
        typer.Option(
            "--to-table",
            help="Move the rows into this archive table on the same shard instead "
            "of the store (e.g. enrollments_archive); parents with child rows are kept.",
            show_default=False,
        ),
    ] = None,
    allow_unencrypted_pii: Annotated[
        bool,
        typer.Option(
            "--allow-unencrypted-pii", help="Archive a table with personal data without --sse."
        ),
    ] = False,
    parallel: Annotated[int, typer.Option(min=1, help="Shards archived at once.")] = 4,
    max_replica_lag: Annotated[
        float | None,
        typer.Option(
            min=0,
            help="Before each chunk, wait while a replica of the shard lags more than this "
            "many seconds (unknown lag counts as lagging).",
            show_default=False,
        ),
    ] = None,
    replica_wait: Annotated[
        float,
        typer.Option(
            min=0, help="With --max-replica-lag: seconds of lag after which the shard stops."
        ),
    ] = 600.0,
    lock_timeout: Annotated[
        float,
        typer.Option(
            min=0, help="Seconds to wait for a shard's lock (held by migrate or another run)."
        ),
    ] = DEFAULT_LOCK_TIMEOUT,
    yes: Yes = False,
    json_output: Json = False,
) -> None:
    """Archive rows matching a filter: chunk by primary key, upload, verify the object, then
    delete exactly those rows if unchanged since they were read (one transaction per chunk).

    Children archived with the table (enrollments: lesson_progress, quiz_attempts) go in the
    same object; rows kept by a non-cascading child (certificates) stay. A crash at any
    point leaves every row in the table or in one verified object: rerun the same command to
    finish. Asks for confirmation on a terminal; a non-interactive run needs --yes.

    Example:

        lmsdb -t shards/local-mariadb.toml archive run enrollments \\
            --to s3://lms-archive/oltp --older-than 2y --date-column completed_at \\
            --status completed --storage-class GLACIER --sse AES256 --dry-run
        lmsdb archive run audit_logs --to s3://lms-archive/oltp --older-than 1y \\
            --date-column created_at --sse aws:kms --kms-key-id alias/lms --yes
        lmsdb archive run enrollments --to-table enrollments_archive --older-than 2y \\
            --date-column completed_at --status completed --yes
    """
    from lms_db.archive.filters import split_where
    from lms_db.archive.runner import ArchiveRequest, run_archive

    request = ArchiveRequest(
        table=table,
        destination=to,
        older_than=older_than,
        date_column=date_column,
        status=status,
        where=tuple(split_where(w) for w in where or ()),
        shards=tuple(shard or ()),
        chunk_size=chunk_size,
        storage_class=storage_class,
        sse=sse,
        kms_key_id=kms_key_id,
        format=format_,
        dry_run=dry_run,
        no_delete=no_delete,
        allow_unencrypted_pii=allow_unencrypted_pii,
        parallel=parallel,
        max_replica_lag=max_replica_lag,
        replica_wait=replica_wait,
        to_table=to_table,
        lock_timeout=lock_timeout,
        connect_timeout=_timeout(ctx),
    )
    topology = _topology(ctx)
    if not dry_run and not no_delete and not yes:
        if not sys.stdin.isatty():
            raise InputError(
                f"archive run {table} deletes the rows it archives: pass --yes (or --dry-run first)"
            )
        typer.confirm(f"Archive and delete matching {table} rows?", abort=True)
    with chunk_progress(not json_output and not dry_run) as on_chunk:
        report = run_archive(topology, request, on_chunk=on_chunk)
    if json_output:
        print_json(report.to_dict())
    else:
        render_report(report)
    if report.failed:
        raise typer.Exit(code=1)


@archive_app.command("list")
def list_(ctx: typer.Context, json_output: Json = False) -> None:
    """List archive runs from the catalog journal: table, shards, rows, bytes, state.

    Example:

        lmsdb -t shards/local-mariadb.toml archive list
        lmsdb archive list --json
    """
    from lms_db.archive.runs import list_runs

    runs = list_runs(_topology(ctx), timeout=_timeout(ctx))
    if json_output:
        print_json([r.to_dict() for r in runs])
        return
    render_rows(
        "archive runs",
        ("run", "table", "state", "shards", "rows", "bytes", "class", "destination"),
        [
            (
                r.run,
                r.table,
                r.state,
                ", ".join(r.shards),
                ", ".join(f"{t} {n}" for t, n in r.rows.items()) or "0",
                r.bytes,
                r.storage_class,
                r.destination,
            )
            for r in runs
        ],
    )


@archive_app.command()
def verify(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(metavar="RUN", help="The run id (archive list).")],
    json_output: Json = False,
) -> None:
    """Re-read every object of a run and check it against the manifest: size, SHA-256, row
    counts and the digest of the rows. Exits 1 when any object is missing or differs.

    GLACIER/DEEP_ARCHIVE objects that are not restored are checked by HEAD (size and the
    SHA-256 the store recorded when it received them).

    Example:

        lmsdb -t shards/local-mariadb.toml archive verify 20261202T050000Z-1a2b3c
    """
    from lms_db.archive.runs import verify_run

    report = verify_run(_topology(ctx), run_id, timeout=_timeout(ctx))
    if json_output:
        print_json(report.to_dict())
    else:
        render_rows(
            f"archive verify {run_id}",
            ("shard", "chunk", "result", "detail", "key"),
            [(c.shard, c.chunk, c.result, c.detail, c.key) for c in report.checks],
        )
    if report.failed:
        raise typer.Exit(code=1)


@archive_app.command()
def restore(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(metavar="RUN", help="The run id (archive list).")],
    where: Annotated[
        list[str] | None,
        typer.Option(
            "--where",
            help='Only parent rows matching "COLUMN OP VALUE" (repeatable), with their children.',
            show_default=False,
        ),
    ] = None,
    wait: Annotated[
        bool,
        typer.Option(
            "--wait",
            help="GLACIER/DEEP_ARCHIVE: wait for the store's restore instead of "
            "reporting it pending.",
        ),
    ] = False,
    tier: Annotated[
        str, typer.Option(help="Glacier retrieval tier: Expedited, Standard or Bulk.")
    ] = "Standard",
    json_output: Json = False,
) -> None:
    """Re-insert a run's rows on the shards they came from; safe to repeat.

    A row whose key is already present is skipped when identical and reported as a conflict
    when not (it is never overwritten). Cold objects are first asked back from Glacier:
    without --wait the command reports them pending; run it again once they are available.

    Example:

        lmsdb -t shards/local-mariadb.toml archive restore 20261202T050000Z-1a2b3c
        lmsdb archive restore 20261202T050000Z-1a2b3c --where "user_id = 1042" --wait
    """
    from lms_db.archive.filters import split_where
    from lms_db.archive.restore import restore_run

    report = restore_run(
        _topology(ctx),
        run_id,
        where=tuple(split_where(w) for w in where or ()),
        wait=wait,
        tier=tier,
        timeout=_timeout(ctx),
    )
    if json_output:
        print_json(report.to_dict())
    else:
        render_restore(report)
    if report.conflicts:
        raise typer.Exit(code=1)


@archive_app.command()
def forget(
    ctx: typer.Context,
    user: Annotated[
        int, typer.Option("--user", min=0, help="The user id to erase.", show_default=False)
    ],
    lock_timeout: Annotated[
        float, typer.Option(min=0, help="Seconds to wait for each shard's lock.")
    ] = DEFAULT_LOCK_TIMEOUT,
    yes: Yes = False,
    json_output: Json = False,
) -> None:
    """Erase one user's rows from every archive run (the right to erasure): each object
    holding them is rewritten without them and verified, the manifest switched to it, then
    the old object deleted. Journaled; rerun after a crash to finish.

    It does not touch the live tables. GLACIER/DEEP_ARCHIVE objects are first asked back
    from cold storage: rerun once they are available (the command lists them as pending).

    Example:

        lmsdb -t shards/local-mariadb.toml archive forget --user 1042 --yes
    """
    if not yes:
        if not sys.stdin.isatty():
            raise InputError("archive forget deletes archived rows for good: pass --yes")
        typer.confirm(f"Erase every archived row of user {user}?", abort=True)
    from lms_db.archive.forget import forget_user

    report = forget_user(_topology(ctx), user, lock_timeout=lock_timeout, timeout=_timeout(ctx))
    if json_output:
        print_json(report.to_dict())
    else:
        render_forget(report)
