"""Versioned catalog upgrades (issue #9): a catalog created by release 1 (its DDL captured in
``tests/fixtures/catalog_v1/``) is brought to the current version by any command, twice
without harm, by two processes at once, on MariaDB, PostgreSQL and SQLite; a newer catalog
is refused.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from lms_db.catalog import CATALOG_SCHEMA_VERSION, catalog_schema, ensure_catalog
from lms_db.catalog.upgrades import UPGRADE_STEPS
from lms_db.errors import CatalogTooNew
from tests.backend.fleet_helpers import REPO_ROOT, lmsdb, url_text, write_topology
from tests.secret_scan import PLANTED_PASSWORD, catalog_rows

V1_DIR = Path(__file__).resolve().parents[1] / "fixtures" / "catalog_v1"
LITERAL = f"mysql+pymysql://lms:{PLANTED_PASSWORD}@db.internal:3306/lms_4"


def create_v1_catalog(engine: Engine, *, legacy_shard: bool = True) -> None:
    """The catalog exactly as lmsdb release 1 created it, with what release 1 let in: a
    shard added with a literal password and replicas kept in the journal payload."""
    dialect = "mariadb" if engine.dialect.name in ("mysql", "mariadb") else engine.dialect.name
    lines = (V1_DIR / f"{dialect}.sql").read_text(encoding="utf-8").splitlines()
    text = "\n".join(line for line in lines if not line.startswith("--"))
    statements = [s.strip() for s in text.split(";\n") if s.strip()]
    payload = json.dumps({"primary": LITERAL, "replicas": [LITERAL.replace("lms_4", "r4")]})
    with engine.begin() as conn:
        for statement in statements:
            conn.exec_driver_sql(statement.rstrip(";"))
        if not legacy_shard:
            return
        conn.execute(
            sa.text(
                "INSERT INTO shards (name, primary_url_template, state, created_at) "
                "VALUES ('shard-4', :url, 'active', '2026-01-01 00:00:00')"
            ),
            {"url": LITERAL},
        )
        conn.execute(
            sa.text(
                "INSERT INTO journal (operation, shard, step, state, holder, payload, created_at, "
                "updated_at) VALUES ('shard-add', 'shard-4', 'registered', 'done', 'h:1', :p, "
                "'2026-01-01 00:00:00', '2026-01-01 00:00:00')"
            ),
            {"p": payload},
        )


def _state(engine: Engine) -> dict[str, object]:
    with engine.connect() as conn:
        versions = sorted(conn.execute(sa.select(catalog_schema.c.version)).scalars())
        fleets = conn.execute(sa.text("SELECT fleet_id FROM fleet")).scalars().all()
        row = conn.execute(
            sa.text(
                "SELECT primary_url_template, replica_url_templates "
                "FROM shards WHERE name = 'shard-4'"
            )
        ).one()
    return {
        "versions": versions,
        "fleets": fleets,
        "primary": row[0],
        "replicas": json.loads(row[1]),
    }


def test_the_steps_end_at_the_current_version() -> None:
    assert [s.version for s in UPGRADE_STEPS] == list(range(2, CATALOG_SCHEMA_VERSION + 1))


def test_a_v1_catalog_is_upgraded_once_and_idempotently(any_engine: Engine) -> None:
    create_v1_catalog(any_engine)
    assert ensure_catalog(any_engine) == CATALOG_SCHEMA_VERSION
    first = _state(any_engine)
    assert first["versions"] == list(range(1, CATALOG_SCHEMA_VERSION + 1))
    assert len(first["fleets"]) == 1  # type: ignore[arg-type]
    # The password release 1 stored is gone from the shard row and from the journal...
    assert first["primary"] == "mysql+pymysql://lms:***@db.internal:3306/lms_4"
    assert first["replicas"] == ["mysql+pymysql://lms:***@db.internal:3306/r4"]
    assert not any(PLANTED_PASSWORD in text for _, text in catalog_rows(any_engine.url))
    # ... and running the upgrade again changes nothing.
    assert ensure_catalog(any_engine) == CATALOG_SCHEMA_VERSION
    assert _state(any_engine) == first


def test_two_processes_upgrading_at_once(any_engine: Engine) -> None:
    create_v1_catalog(any_engine)
    code = (
        "import sys, sqlalchemy as sa; from lms_db.catalog import ensure_catalog; "
        "e = sa.create_engine(sys.argv[1]); print(ensure_catalog(e)); e.dispose()"
    )
    url = url_text(any_engine.url)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, url],
            cwd=REPO_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), outputs
    assert [o.strip() for o, _ in outputs] == [str(CATALOG_SCHEMA_VERSION)] * 3
    state = _state(any_engine)
    assert state["versions"] == list(range(1, CATALOG_SCHEMA_VERSION + 1))
    assert len(state["fleets"]) == 1  # type: ignore[arg-type]


def test_any_command_upgrades_and_a_newer_catalog_is_refused(tmp_path: Path) -> None:
    catalog = f"sqlite:///{tmp_path / 'catalog.db'}"
    engine = sa.create_engine(catalog)
    create_v1_catalog(engine)
    topology = write_topology(tmp_path, catalog, [f"sqlite:///{tmp_path / 's0.db'}"])
    # Any command upgrades it; shard-4's URL lost its password, which says how to fix it.
    up = lmsdb(topology, "migrate", "up")
    assert up.exit_code == 2, up.output
    assert "catalog shards.shard-4.primary" in up.stderr
    assert "lmsdb shard set shard-4 --primary" in up.stderr
    assert _state(engine)["versions"] == list(range(1, CATALOG_SCHEMA_VERSION + 1))
    fixed = lmsdb(
        topology,
        "shard",
        "set",
        "shard-4",
        "--primary",
        f"sqlite:///{tmp_path / 's4.db'}",
        "--no-replicas",
    )
    assert fixed.exit_code == 0, fixed.output
    up = lmsdb(topology, "migrate", "up", "--json")
    assert up.exit_code == 0, up.output
    assert {r["shard"] for r in json.loads(up.stdout)["results"]} == {"shard-0", "shard-4"}

    with engine.begin() as conn:
        conn.execute(catalog_schema.insert().values(version=CATALOG_SCHEMA_VERSION + 1))
    engine.dispose()
    with pytest.raises(CatalogTooNew):
        ensure_catalog(sa.create_engine(catalog))
    for command in (["shard", "list"], ["migrate", "up"], ["shard", "status"]):
        refused = lmsdb(topology, *command)
        assert refused.exit_code == 2, (command, refused.output)
        assert "newer than this lmsdb understands" in refused.stderr, refused.stderr


def test_the_router_upgrades_a_v1_catalog_it_reads(tmp_path: Path) -> None:
    catalog = f"sqlite:///{tmp_path / 'catalog.db'}"
    shard = f"sqlite:///{tmp_path / 's0.db'}"
    engine = sa.create_engine(catalog)
    create_v1_catalog(engine, legacy_shard=False)
    with engine.begin() as conn:  # a map release 1 seeded
        conn.execute(
            sa.text(
                "INSERT INTO shards (name, primary_url_template, state, "
                "created_at) VALUES ('shard-0', :u, 'active', '2026-01-01')"
            ),
            {"u": shard},
        )
        for keyspace, hi in (("user", 1000), ("course", 100)):
            conn.execute(
                sa.text(
                    "INSERT INTO shard_ranges (keyspace, lo, hi, shard, state, "
                    "map_version) VALUES (:k, 0, :h, 'shard-0', 'serving', 1)"
                ),
                {"k": keyspace, "h": hi},
            )
        conn.execute(sa.text("UPDATE map_version SET version = 1"))
    topology = write_topology(tmp_path, catalog, [shard])
    listed = lmsdb(topology, "shard", "list", "--json")
    assert listed.exit_code == 0, listed.output
    assert json.loads(listed.stdout)["shards"] == ["shard-0"]
    with engine.connect() as conn:
        versions = sorted(conn.execute(sa.select(catalog_schema.c.version)).scalars())
    engine.dispose()
    assert versions == list(range(1, CATALOG_SCHEMA_VERSION + 1))
