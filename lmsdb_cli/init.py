"""``lmsdb init``: write a commented topology file to start from."""

from __future__ import annotations

from pathlib import Path

from typer import Argument, Option

from lms_db.topology.template import write_topology_template
from lmsdb_cli.output import console


def init(
    path: Path = Argument(..., help="Topology file to write, e.g. shards/dev.toml."),
    force: bool = Option(False, "--force", help="Overwrite the file if it exists."),
) -> None:
    """Write a commented shard topology file that works as is (three SQLite shards).

    Edit it to point at your servers; passwords stay in environment variables
    (write ${LMS_DB_PASSWORD} in the URL).

    Example:

        lmsdb init shards/dev.toml
        lmsdb init shards/dev.toml --force    # start over
    """
    written = write_topology_template(path, force=force)
    console.print(f"wrote {written}", highlight=False, markup=False)
