"""``lmsdb demo`` runs the whole story on embedded SQLite and leaves a usable topology."""

from __future__ import annotations

import json
from pathlib import Path

import sqlalchemy as sa
from typer.testing import CliRunner

from cli import app

runner = CliRunner()


def test_demo_runs_every_step(tmp_path: Path) -> None:
    workdir = tmp_path / "demo"
    result = runner.invoke(
        app,
        ["demo", "--dir", str(workdir), "--users", "90", "--courses", "9"],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    for step in (
        "topology",
        "migrate",
        "sample load",
        "views refresh",
        "route",
        "split",
        "status",
        "archive",
        "restore",
        "schema check",
    ):
        assert f"✓ {step}" in result.output
    assert "(GLACIER, AES256" in result.output  # moto is a test dependency: archiving runs
    assert "every database matches the models" in result.output
    users = 0
    for n in range(4):  # the split moved part of shard-0's users to the new shard-3
        engine = sa.create_engine(f"sqlite:///{workdir / f'shard-{n}.db'}")
        with engine.connect() as conn:
            on_shard = conn.execute(sa.text("SELECT count(*) FROM users")).scalar_one()
            version = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
        engine.dispose()
        assert on_shard > 0 and version == "0001"
        users += on_shard
    assert users == 90
    listed = runner.invoke(app, ["-t", str(workdir / "topology.toml"), "shard", "list", "--json"])
    owners = {r["shard"] for r in json.loads(listed.stdout)["ranges"]}
    assert "shard-3" in owners
    topology = str(workdir / "topology.toml")
    runs = runner.invoke(app, ["-t", topology, "archive", "list", "--json"])
    assert runs.exit_code == 0 and '"table": "enrollments"' in runs.stdout
    listed = runner.invoke(app, ["-t", topology, "shard", "list"])
    assert listed.exit_code == 0 and "shard-2" in listed.output
    refreshed = runner.invoke(
        app, ["-t", topology, "views", "refresh", "--json"], catch_exceptions=False
    )
    assert refreshed.exit_code == 0
    assert '"shard": "shard-2"' in refreshed.stdout
    assert '"method": "transaction"' in refreshed.stdout
    unknown = runner.invoke(app, ["-t", topology, "views", "refresh", "--shard", "nope"])
    assert unknown.exit_code == 2 and "nope" in unknown.stderr


def test_demo_refuses_a_directory_in_use(tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("mine")
    result = runner.invoke(app, ["demo", "--dir", str(tmp_path)])
    assert result.exit_code == 2
    assert "is not empty" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt"]


def test_demo_in_a_temporary_directory() -> None:
    result = runner.invoke(app, ["demo", "--users", "30", "--courses", "3"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "shard status" in result.output
