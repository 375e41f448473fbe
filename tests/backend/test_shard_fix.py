"""Secrets never stored, ``shard add`` checked like ``migrate up``, ``shard set``/``remove``
fix mistakes (issue #9), on the real MariaDB service and on SQLite.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import URL
from typer.testing import CliRunner

from cli import app
from lms_db.catalog import journal, read_map_version, shards
from tests.backend.router_helpers import (  # noqa: F401 - fixtures
    Fleet,
    fixture_fleet,
    fixture_make_second_database,
    fixture_second_mariadb,
)
from tests.secret_scan import PLANTED_PASSWORD, catalog_rows

runner = CliRunner()


def lmsdb(fleet: Fleet, *args: str, env: dict[str, str] | None = None) -> Any:
    return runner.invoke(app, ["--topology", str(fleet.path), *args], env=env)


def _catalog(fleet: Fleet) -> tuple[list[tuple[Any, ...]], int, int]:
    """Shard rows, map version and journal size: what a refused command must not change."""
    engine = sa.create_engine(fleet.topology.catalog.url)
    try:
        with engine.connect() as conn:
            rows = [
                tuple(r)
                for r in conn.execute(
                    sa.select(
                        shards.c.name,
                        shards.c.primary_url_template,
                        shards.c.replica_url_templates,
                        shards.c.state,
                    ).order_by(shards.c.name)
                )
            ]
            entries = conn.execute(sa.select(sa.func.count()).select_from(journal)).scalar_one()
        return rows, read_map_version(engine), int(entries)
    finally:
        engine.dispose()


@pytest.fixture
def password_user(mariadb_server_url: URL) -> Iterator[str]:
    """A MariaDB user whose password is the planted one: the secret is really used."""
    name = f"lmsdb_pw_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(mariadb_server_url)
    with admin.begin() as conn:
        conn.exec_driver_sql(f"CREATE USER '{name}'@'%%' IDENTIFIED BY '{PLANTED_PASSWORD}'")
        conn.exec_driver_sql(f"GRANT ALL PRIVILEGES ON *.* TO '{name}'@'%%'")
    yield name
    with admin.begin() as conn:
        conn.exec_driver_sql(f"DROP USER IF EXISTS '{name}'@'%%'")
    admin.dispose()


@pytest.mark.parametrize("fleet", ["mariadb"], indirect=True)
def test_add_with_a_password_stores_and_prints_none(
    fleet: Fleet,
    password_user: str,
    make_mariadb_database: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url = make_mariadb_database()
    literal = (
        f"mysql+pymysql://{password_user}:{PLANTED_PASSWORD}@127.0.0.1:{url.port}/{url.database}"
    )
    before = _catalog(fleet)
    refused = lmsdb(fleet, "shard", "add", "shard-3", "--primary", literal)
    assert refused.exit_code == 2, refused.output
    assert "literal password" in refused.stderr and "${LMS_DB_PASSWORD}" in refused.stderr
    assert _catalog(fleet) == before

    monkeypatch.setenv("LMS_DB_PASSWORD", PLANTED_PASSWORD)
    template = (
        f"mysql+pymysql://{password_user}:${{LMS_DB_PASSWORD}}@127.0.0.1:{url.port}/{url.database}"
    )
    added = lmsdb(fleet, "shard", "add", "shard-3", "--primary", template)
    assert added.exit_code == 0, added.output
    assert f"{password_user}:***@" in added.stdout
    rows = dict((r[0], r[1]) for r in _catalog(fleet)[0])
    assert rows["shard-3"] == template  # the reference is stored, never the value
    texts = [text for _, text in catalog_rows(fleet.topology.catalog.url)]
    assert any("${LMS_DB_PASSWORD}" in t for t in texts)  # the journal payload too
    assert not any(PLANTED_PASSWORD in t for t in texts)
    # The Router reads the template back and connects with the secret.
    status = json.loads(lmsdb(fleet, "shard", "status", "--shard", "shard-3", "--json").stdout)
    assert status["shards"][0]["error"] is None and status["shards"][0]["at_head"]

    # A password file works the same way.
    secret = tmp_path / "pw"
    secret.write_text(PLANTED_PASSWORD + "\n", encoding="utf-8")
    other = make_mariadb_database()
    from_file = (
        f"mysql+pymysql://{password_user}:${{file:{secret}}}@127.0.0.1:{other.port}/"
        f"{other.database}"
    )
    assert lmsdb(fleet, "shard", "add", "shard-4", "--primary", from_file).exit_code == 0
    assert dict((r[0], r[1]) for r in _catalog(fleet)[0])["shard-4"] == from_file


@pytest.mark.parametrize("fleet", ["mariadb"], indirect=True)
def test_add_refuses_a_writable_replica_and_set_fixes_a_recorded_one(
    fleet: Fleet, make_mariadb_database: Any
) -> None:
    primary, writable = make_mariadb_database(), make_mariadb_database()
    before = _catalog(fleet)
    refused = lmsdb(
        fleet, "shard", "add", "shard-3", "--primary", str(primary), "--replica", str(writable)
    )
    assert refused.exit_code == 2, refused.output
    assert (
        "--replica[0]" in refused.stderr
        and "is writable and replicates from no primary" in refused.stderr
    )
    assert _catalog(fleet) == before

    # What an older lmsdb let through: a shard whose recorded replica is a writable primary.
    assert lmsdb(fleet, "shard", "add", "shard-3", "--primary", str(primary)).exit_code == 0
    engine = sa.create_engine(fleet.topology.catalog.url)
    with engine.begin() as conn:
        conn.execute(
            shards.update()
            .where(shards.c.name == "shard-3")
            .values(replica_url_templates=json.dumps([str(writable)]))
        )
    engine.dispose()
    broken = lmsdb(fleet, "migrate", "up", "--shard", "shard-3")
    assert broken.exit_code == 2 and "is writable" in broken.stderr, broken.output

    again = lmsdb(fleet, "shard", "set", "shard-3", "--replica", str(writable))
    assert again.exit_code == 2 and "is writable" in again.stderr
    dry = lmsdb(fleet, "shard", "set", "shard-3", "--no-replicas", "--dry-run")
    assert dry.exit_code == 0 and "nothing changed" in dry.stdout, dry.output
    version = _catalog(fleet)[1]
    fixed = lmsdb(fleet, "shard", "set", "shard-3", "--no-replicas")
    assert fixed.exit_code == 0, fixed.output
    assert "replicas: none" in fixed.stdout
    rows, new_version, _ = _catalog(fleet)
    assert dict((r[0], r[2]) for r in rows)["shard-3"] == "[]" and new_version == version + 1
    rerun = lmsdb(fleet, "migrate", "up", "--shard", "shard-3")
    assert rerun.exit_code == 0, rerun.output


@pytest.mark.parametrize("fleet", ["sqlite"], indirect=True)
def test_remove_only_an_empty_shard_owning_no_range(fleet: Fleet, tmp_path: Path) -> None:
    new = f"sqlite:///{tmp_path / 'new.sqlite'}"
    assert lmsdb(fleet, "shard", "add", "shard-3", "--primary", new).exit_code == 0
    owner = lmsdb(fleet, "shard", "remove", "shard-1", "--yes")
    assert owner.exit_code == 2 and "is listed in" in owner.stderr
    before = _catalog(fleet)
    no_yes = lmsdb(fleet, "shard", "remove", "shard-3")  # CliRunner: not a terminal
    assert no_yes.exit_code == 2 and "pass --yes" in no_yes.stderr
    dry = lmsdb(fleet, "shard", "remove", "shard-3", "--dry-run")
    assert dry.exit_code == 0 and "would be unregistered" in dry.stdout, dry.output
    assert _catalog(fleet) == before

    engine = sa.create_engine(new)
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO users (id, uuid, email, password_hash, first_name, "
            "last_name, role, status, created_at, updated_at) VALUES (7, "
            "'u-7', 'a@b.c', 'x', 'A', 'B', 'student', 'active', "
            "'2026-01-01', '2026-01-01')"
        )
    engine.dispose()
    rows = lmsdb(fleet, "shard", "remove", "shard-3", "--yes")
    assert rows.exit_code == 2 and "holds 1 rows" in rows.stderr and "--force" in rows.stderr
    assert _catalog(fleet) == before

    gone = lmsdb(fleet, "shard", "remove", "shard-3", "--yes", "--force")
    assert gone.exit_code == 0, gone.output
    assert "shard-3" not in json.loads(lmsdb(fleet, "shard", "list", "--json").stdout)["shards"]
    states = dict((r[0], r[3]) for r in _catalog(fleet)[0])
    assert states["shard-3"] == "removed"
    reuse = lmsdb(
        fleet, "shard", "add", "shard-3", "--primary", f"sqlite:///{tmp_path / 'other.sqlite'}"
    )
    assert reuse.exit_code == 2 and "belonged to a removed shard" in reuse.stderr
    engine = sa.create_engine(fleet.topology.catalog.url)
    with engine.connect() as conn:
        ops = conn.execute(
            sa.select(journal.c.operation, journal.c.state)
            .where(journal.c.shard == "shard-3")
            .order_by(journal.c.id)
        ).all()
    engine.dispose()
    assert [tuple(o) for o in ops] == [("shard-add", "done"), ("shard-remove", "done")]


@pytest.mark.parametrize("fleet", ["sqlite"], indirect=True)
def test_set_and_remove_refuse_bad_input_and_change_nothing(fleet: Fleet, tmp_path: Path) -> None:
    before = _catalog(fleet)
    for args, message in [
        (["shard", "set", "nope", "--no-replicas"], "unknown shard 'nope'"),
        (["shard", "set", "shard-0"], "give --primary URL, --replica URL or --no-replicas"),
        (["shard", "set", "shard-0", "--no-replicas"], "replicas come from"),
        (
            ["shard", "set", "shard-0", "--primary", str(fleet.shard_urls[1])],
            "is already the primary of shard-1",
        ),
        (["shard", "remove", "nope", "--yes"], "unknown shard 'nope'"),
    ]:
        result = lmsdb(fleet, *args)
        assert result.exit_code == 2, (args, result.output)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and message in lines[0], (args, lines)
    assert _catalog(fleet) == before
