"""Helpers for the migration tests: topology files written in tmp_path, the CLI, revisions."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL
from typer.testing import CliRunner, Result

from cli import app
from lms_db.migrate.scripts import migrations_root

REPO_ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


def url_text(url: URL | str) -> str:
    """A URL as it goes into a topology file (no password in any test URL)."""
    return url if isinstance(url, str) else url.render_as_string(hide_password=False)


def topology_text(
    catalog: URL | str,
    primaries: Sequence[URL | str],
    *,
    replicas: dict[int, Sequence[URL | str]] | None = None,
    analytics: URL | str | None = None,
    names: Sequence[str] | None = None,
) -> str:
    """A topology with one shard per primary; user/course ranges tile [0, n*1000)."""
    replicas = replicas or {}
    lines = ["[catalog]", f'url = "{url_text(catalog)}"', ""]
    if analytics is not None:
        lines += ["[analytics]", f'url = "{url_text(analytics)}"', ""]
    for i, primary in enumerate(primaries):
        name = names[i] if names else f"shard-{i}"
        reps = ", ".join(f'"{url_text(r)}"' for r in replicas.get(i, ()))
        lines += [
            "[[shards]]",
            f'name = "{name}"',
            f'primary = "{url_text(primary)}"',
            f"replicas = [{reps}]",
            f"ranges = {{ user = [{i * 1000}, {(i + 1) * 1000}], "
            f"course = [{i * 100}, {(i + 1) * 100}] }}",
            "",
        ]
    return "\n".join(lines)


def write_topology(tmp_path: Path, *args: Any, **kwargs: Any) -> Path:
    """Write :func:`topology_text` to ``tmp_path/topology.toml``."""
    path = tmp_path / "topology.toml"
    path.write_text(topology_text(*args, **kwargs), encoding="utf-8")
    return path


def lmsdb(topology: Path | None, *args: str, env: dict[str, str] | None = None) -> Result:
    """Run ``lmsdb [--topology FILE] ARGS`` through CliRunner."""
    prefix = ["--topology", str(topology)] if topology is not None else []
    return runner.invoke(app, [*prefix, *args], env=env)


def lmsdb_json(topology: Path, *args: str) -> Any:
    """Run a command with ``--json`` and parse its stdout."""
    result = lmsdb(topology, *args, "--json")
    assert result.exit_code in (0, 1), result.output
    assert result.stdout, result.output
    return json.loads(result.stdout)


def lmsdb_process(topology: Path, *args: str) -> subprocess.Popen[str]:
    """Start ``lmsdb`` as a separate process (a second operator)."""
    return subprocess.Popen(
        [sys.executable, str(REPO_ROOT / "cli.py"), "--topology", str(topology), *args],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def revision_of(url: URL | str) -> str | None:
    """The revision in ``alembic_version`` (``None``: table missing or empty)."""
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            if not sa.inspect(conn).has_table("alembic_version"):
                return None
            rows = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalars()
            found = list(rows)
    finally:
        engine.dispose()
    assert len(found) <= 1, found
    return found[0] if found else None


def table_names(url: URL | str) -> set[str]:
    """The tables of a database."""
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            return set(sa.inspect(conn).get_table_names())
    finally:
        engine.dispose()


def column_names(url: URL | str, table: str) -> set[str]:
    """The columns of a table."""
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            return {c["name"] for c in sa.inspect(conn).get_columns(table)}
    finally:
        engine.dispose()


def execute(url: URL | str, *statements: str) -> None:
    """Run statements on a database and commit."""
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.begin() as conn:
            for statement in statements:
                conn.exec_driver_sql(statement)
    finally:
        engine.dispose()


def results_by_shard(run: dict[str, Any]) -> dict[str, tuple[str | None, str | None, str]]:
    """``shard -> (from, to, result)`` from ``migrate up --json``."""
    return {r["shard"]: (r["from"], r["to"], r["result"]) for r in run["results"]}


def copy_migrations(tmp_path: Path) -> Path:
    """A private copy of lmsdb's migrations directory, to add test revisions to."""
    target = tmp_path / "migrations"
    shutil.copytree(
        migrations_root(), target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
    )
    return target


REVISION_TEMPLATE = '''"""{doc}"""

from alembic import op
import sqlalchemy as sa

revision = "{rev}"
down_revision = "{down}"
branch_labels = None
depends_on = None


def upgrade() -> None:
{upgrade}


def downgrade() -> None:
{downgrade}
'''


def add_revision(
    root: Path,
    rev: str,
    down: str,
    upgrade: str,
    downgrade: str,
    doc: str = "test revision",
    target: str = "oltp",
) -> Path:
    """Write a revision script into a copied migrations directory."""
    path = root / target / "versions" / f"29990101_{rev}_test.py"
    indent = "    "
    path.write_text(
        REVISION_TEMPLATE.format(
            doc=doc,
            rev=rev,
            down=down,
            upgrade="\n".join(indent + line for line in upgrade.splitlines()),
            downgrade="\n".join(indent + line for line in downgrade.splitlines()),
        ),
        encoding="utf-8",
    )
    return path


def inserted_id(result: sa.CursorResult[Any]) -> int:
    """The primary key an INSERT of one row generated."""
    key = result.inserted_primary_key
    assert key is not None, "the INSERT generated no primary key"
    return int(key[0])
