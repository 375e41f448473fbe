"""kill -9 of the whole ``lmsdb archive`` process group at every step, then a rerun.

Invariants checked after each crash and after the rerun:

- never neither: every original row is in its table or in a stored chunk object;
- after the rerun, never both and never twice: each row is in the table or in exactly one
  live chunk of a manifest, and no chunk object outside the manifests is left;
- restoring the run gives back every table exactly (checksums).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from lms_db.archive.codec import decode_chunk
from tests.backend.archive_helpers import (
    TABLES,
    archived_rows,
    chunk_keys,
    chunk_records,
    cli_env,
    ids_in,
    kill_at,
    make_fleet,
    run_cli,
    seed_learning,
)
from tests.backend.router_helpers import Fleet, table_checksums
from tests.backend.s3_helpers import S3Endpoint, fixture_bucket, fixture_s3  # noqa: F401

CHILDREN = ("lesson_progress", "quiz_attempts")


def _args(bucket: str) -> list[str]:
    return [
        "archive",
        "run",
        "enrollments",
        "--to",
        f"s3://{bucket}/crash",
        "--older-than",
        "2y",
        "--date-column",
        "completed_at",
        "--status",
        "completed",
        "--chunk-size",
        "2",
        "--parallel",
        "1",
        "--yes",
        "--json",
    ]


def _table_ids(fleet: Fleet) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for url in fleet.shard_urls:
        for table in ("enrollments", *CHILDREN):
            out.setdefault(table, []).extend(ids_in(url, table))
    return out


def _all_objects(client: Any, bucket: str) -> dict[str, list[int]]:
    """Rows in every chunk object of the bucket, listed in a manifest or not."""
    found: dict[str, list[int]] = {}
    for key in chunk_keys(client, bucket):
        chunk = decode_chunk(client.get_object(Bucket=bucket, Key=key)["Body"].read())
        for table, names in chunk.columns.items():
            found.setdefault(table, []).extend(int(r[names.index("id")]) for r in chunk.rows[table])
    return found


def _live_keys(client: Any, bucket: str) -> set[str]:
    return {c["key"] for c in chunk_records(client, bucket) if c["state"] in ("archived", "copied")}


@pytest.mark.parametrize(
    "point",
    [
        "chunk:read",
        "upload:sending",
        "upload:done",
        "verify:done",
        "delete:children",
        "delete:committed",
        "part:stored",
        "part:stored#2",
        "manifest:write",
        "before:complete",
        "delete:committed#3",
    ],
)
def test_kill_at_any_step_then_rerun_loses_and_duplicates_nothing(
    request: pytest.FixtureRequest, tmp_path: Path, s3: S3Endpoint, bucket: str, point: str
) -> None:
    fleet = make_fleet(request, tmp_path, "mariadb")
    seed_learning(fleet, per_shard=8)
    original = _table_ids(fleet)
    before = {i: table_checksums(url, TABLES) for i, url in enumerate(fleet.shard_urls)}
    env = cli_env(s3.url)
    client = s3.client()

    kill_at(fleet.path, _args(bucket), env, point, tmp_path / "paused")
    in_tables, in_objects = _table_ids(fleet), _all_objects(client, bucket)
    for table, ids in original.items():
        missing = set(ids) - set(in_tables.get(table, [])) - set(in_objects.get(table, []))
        assert not missing, f"{table}: rows in neither the table nor an object: {missing}"

    rerun = run_cli(fleet.path, _args(bucket), env)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    report = json.loads(rerun.stdout)
    assert any(s["resumed"] for s in report["shards"]), report
    in_tables, in_manifests = _table_ids(fleet), archived_rows(client, bucket)
    for table, ids in original.items():
        together = sorted(in_tables.get(table, []) + in_manifests.get(table, []))
        assert together == sorted(ids), f"{table}: lost or duplicated after the rerun"
    assert set(chunk_keys(client, bucket)) == _live_keys(client, bucket), "orphan objects left"

    restored = run_cli(fleet.path, ["archive", "restore", report["run"], "--json"], env)
    assert restored.returncode == 0, restored.stdout + restored.stderr
    assert {i: table_checksums(url, TABLES) for i, url in enumerate(fleet.shard_urls)} == before


def test_kill_during_restore_then_rerun_restores_exactly(
    request: pytest.FixtureRequest, tmp_path: Path, s3: S3Endpoint, bucket: str
) -> None:
    fleet = make_fleet(request, tmp_path, "postgresql")
    seed_learning(fleet, per_shard=8)
    original = _table_ids(fleet)
    before = {i: table_checksums(url, TABLES) for i, url in enumerate(fleet.shard_urls)}
    env = cli_env(s3.url)
    done = run_cli(fleet.path, _args(bucket), env)
    assert done.returncode == 0, done.stderr
    run = json.loads(done.stdout)["run"]
    kill_at(fleet.path, ["archive", "restore", run], env, "restore:chunk#2", tmp_path / "paused")
    partial = _table_ids(fleet)
    assert len(partial["enrollments"]) < len(original["enrollments"])  # stopped halfway
    again = run_cli(fleet.path, ["archive", "restore", run, "--json"], env)
    assert again.returncode == 0, again.stdout + again.stderr
    assert json.loads(again.stdout)["conflicts"] == 0
    assert {i: table_checksums(url, TABLES) for i, url in enumerate(fleet.shard_urls)} == before


@pytest.mark.parametrize("point", ["verify:done", "delete:children"])
def test_kill_then_rerun_on_sqlite(
    request: pytest.FixtureRequest, tmp_path: Path, s3: S3Endpoint, bucket: str, point: str
) -> None:
    fleet = make_fleet(request, tmp_path, "sqlite")
    seed_learning(fleet, per_shard=8)
    original = _table_ids(fleet)
    before = {i: table_checksums(url, TABLES) for i, url in enumerate(fleet.shard_urls)}
    env = cli_env(s3.url)
    kill_at(fleet.path, _args(bucket), env, point, tmp_path / "paused")
    rerun = run_cli(fleet.path, _args(bucket), env)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    in_tables, in_manifests = _table_ids(fleet), archived_rows(s3.client(), bucket)
    for table, ids in original.items():
        assert sorted(in_tables.get(table, []) + in_manifests.get(table, [])) == sorted(ids)
    run = json.loads(rerun.stdout)["run"]
    assert run_cli(fleet.path, ["archive", "restore", run], env).returncode == 0
    assert {i: table_checksums(url, TABLES) for i, url in enumerate(fleet.shard_urls)} == before


def test_kill_while_chunk_2_is_verified_and_chunk_3_waits_on_a_lock(
    request: pytest.FixtureRequest, tmp_path: Path, s3: S3Endpoint, bucket: str
) -> None:
    """The pipeline's overlap: chunk 1 committed, chunk 2 deleted in its open transaction
    and verified, chunk 3's take waiting on a row lock another session holds; kill -9
    there.  Chunk 2's delete must roll back."""
    fleet = make_fleet(request, tmp_path, "mariadb")
    expected = seed_learning(fleet, per_shard=12)  # 5 archivable enrollments: 3 chunks
    original = _table_ids(fleet)
    before = {i: table_checksums(url, TABLES) for i, url in enumerate(fleet.shard_urls)}
    env = cli_env(s3.url)
    client = s3.client()
    holders = [fleet.engine(i) for i in range(len(fleet.shard_urls))]
    conns = [e.connect() for e in holders]
    try:
        for index, conn in enumerate(conns):  # chunk 3's parent, on every shard
            conn.begin()
            conn.execute(
                sa.text("SELECT id FROM enrollments WHERE id = :e FOR UPDATE"),
                {"e": expected[index][4]},
            ).all()
        kill_at(fleet.path, _args(bucket), env, "ahead:verified#2", tmp_path / "paused")
    finally:
        for conn in conns:
            conn.rollback()
            conn.close()
        for engine in holders:
            engine.dispose()
    left = set(_table_ids(fleet)["enrollments"])
    assert not left & set(expected[0][:2]), "chunk 1's delete had committed"
    assert set(expected[0][2:]) <= left, "chunk 2's delete, not committed, rolled back"
    assert len(chunk_keys(client, bucket)) == 2, "two chunks stored: the overlap happened"

    rerun = run_cli(fleet.path, _args(bucket), env)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    report = json.loads(rerun.stdout)
    in_tables, in_manifests = _table_ids(fleet), archived_rows(client, bucket)
    for table, ids in original.items():
        together = sorted(in_tables.get(table, []) + in_manifests.get(table, []))
        assert together == sorted(ids), f"{table}: lost or duplicated after the rerun"
    assert set(chunk_keys(client, bucket)) == _live_keys(client, bucket), "orphan objects left"
    restored = run_cli(fleet.path, ["archive", "restore", report["run"], "--json"], env)
    assert restored.returncode == 0, restored.stdout + restored.stderr
    assert {i: table_checksums(url, TABLES) for i, url in enumerate(fleet.shard_urls)} == before
