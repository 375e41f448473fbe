"""Runs written by an older lmsdb (format-1 manifest, every chunk in the journal payload)
still list, verify, forget and restore, and an unfinished one resumes into parts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from lms_db.catalog.schema import journal
from tests.backend.archive_helpers import (
    TABLES,
    archived_rows,
    checksums_without_user,
    chunk_keys,
    chunk_records,
    cli_env,
    ids_in,
    kill_at,
    make_fleet,
    run_cli,
    seed_learning,
    user_rows_in_objects,
)
from tests.backend.router_helpers import Fleet, table_checksums
from tests.backend.s3_helpers import S3Endpoint, fixture_bucket, fixture_s3  # noqa: F401


def _args(bucket: str) -> list[str]:
    return [
        "archive",
        "run",
        "enrollments",
        "--to",
        f"s3://{bucket}/old",
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


def _as_format_1(fleet: Fleet, client: Any, bucket: str) -> int:
    """Rewrite every archive run as the previous lmsdb left it: the chunk records inline
    in a format-1 manifest object (if the run had written one) and in the journal payload,
    no part objects, no running totals.  Returns how many chunk records moved."""
    catalog = sa.create_engine(fleet.topology.catalog.url)
    moved = 0
    try:
        with catalog.begin() as conn:
            entries = conn.execute(
                sa.select(journal.c.id, journal.c.payload).where(journal.c.operation == "archive")
            ).all()
            for entry_id, payload in entries:
                header = payload["manifest"]
                base = f"old/enrollments/{header['shard']}/{header['run']}/"
                listing = client.list_objects_v2(Bucket=bucket, Prefix=base + "parts/")
                records = []
                for item in listing.get("Contents", []):
                    part = json.loads(
                        client.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
                    )
                    records.append(
                        {k: v for k, v in part.items() if k not in ("format", "run", "shard")}
                    )
                    client.delete_object(Bucket=bucket, Key=item["Key"])
                records.sort(key=lambda r: r["chunk"])
                moved += len(records)
                old = {**header, "format": "lmsdb-archive-manifest/1", "chunks": records}
                manifest_key = base + "manifest.json"
                if "Contents" in client.list_objects_v2(Bucket=bucket, Prefix=manifest_key):
                    client.put_object(
                        Bucket=bucket, Key=manifest_key, Body=json.dumps(old).encode()
                    )
                payload = {k: v for k, v in payload.items() if k != "totals"}
                payload["manifest"] = old
                conn.execute(
                    journal.update().where(journal.c.id == entry_id).values(payload=payload)
                )
    finally:
        catalog.dispose()
    return moved


def test_a_finished_format_1_run_lists_verifies_forgets_and_restores(
    request: pytest.FixtureRequest, tmp_path: Path, s3: S3Endpoint, bucket: str
) -> None:
    fleet = make_fleet(request, tmp_path, "sqlite")
    expected = seed_learning(fleet, per_shard=8)
    user = 2
    before = [checksums_without_user(url, TABLES, user) for url in fleet.shard_urls]
    env = cli_env(s3.url)
    client = s3.client()
    done = run_cli(fleet.path, _args(bucket), env)
    assert done.returncode == 0, done.stderr
    run = json.loads(done.stdout)["run"]
    assert _as_format_1(fleet, client, bucket) > 0
    archived = sorted(e for ids in expected.values() for e in ids)
    assert sorted(archived_rows(client, bucket)["enrollments"]) == archived  # read as format 1

    [listed] = json.loads(run_cli(fleet.path, ["archive", "list", "--json"], env).stdout)
    assert listed["rows"]["enrollments"] == len(archived)
    verified = run_cli(fleet.path, ["archive", "verify", run, "--json"], env)
    assert verified.returncode == 0, verified.stdout
    forgot = run_cli(fleet.path, ["archive", "forget", "--user", str(user), "--yes"], env)
    assert forgot.returncode == 0, forgot.stdout + forgot.stderr
    assert user_rows_in_objects(client, bucket, user) == 0
    [listed] = json.loads(run_cli(fleet.path, ["archive", "list", "--json"], env).stdout)
    assert listed["rows"]["enrollments"] == len(archived) - 1
    manifests = [k for k in chunk_keys_all(client, bucket) if k.endswith("manifest.json")]
    for key in manifests:  # still format 1: forget rewrote it whole, no parts appeared
        body = json.loads(client.get_object(Bucket=bucket, Key=key)["Body"].read())
        assert body["format"] == "lmsdb-archive-manifest/1"
    assert not [k for k in chunk_keys_all(client, bucket) if "/parts/" in k]
    restored = run_cli(fleet.path, ["archive", "restore", run, "--json"], env)
    assert restored.returncode == 0, restored.stderr
    assert [checksums_without_user(url, TABLES, user) for url in fleet.shard_urls] == before


def test_an_unfinished_format_1_run_resumes_into_parts(
    request: pytest.FixtureRequest, tmp_path: Path, s3: S3Endpoint, bucket: str
) -> None:
    fleet = make_fleet(request, tmp_path, "sqlite")
    seed_learning(fleet, per_shard=8)
    original = {t: [i for u in fleet.shard_urls for i in ids_in(u, t)] for t in TABLES}
    before = {i: table_checksums(url, TABLES) for i, url in enumerate(fleet.shard_urls)}
    env = cli_env(s3.url)
    client = s3.client()
    # shard-0 has finished its two chunks, shard-1 its first; its second is deleted, not
    # yet recorded.
    kill_at(fleet.path, _args(bucket), env, "delete:committed#4", tmp_path / "paused")
    assert _as_format_1(fleet, client, bucket) == 3

    rerun = run_cli(fleet.path, _args(bucket), env)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    report = json.loads(rerun.stdout)
    assert any(s["resumed"] for s in report["shards"])
    in_tables = {t: [i for u in fleet.shard_urls for i in ids_in(u, t)] for t in TABLES}
    in_objects = archived_rows(client, bucket)
    for table, ids in original.items():
        together = sorted(in_tables.get(table, []) + in_objects.get(table, []))
        assert together == sorted(ids), f"{table}: lost or duplicated after the resume"
    resumed = {s["shard"] for s in report["shards"] if s["resumed"]}
    formats = {}
    for key in chunk_keys_all(client, bucket):
        if key.endswith("manifest.json"):
            body = json.loads(client.get_object(Bucket=bucket, Key=key)["Body"].read())
            formats[body["shard"]] = body["format"]
    # The resumed shard went on in parts (format 2); a shard the old lmsdb had finished
    # keeps its format-1 manifest, and the run restores from both.
    assert formats == {
        s["shard"]: "lmsdb-archive-manifest/2"
        if s["shard"] in resumed
        else "lmsdb-archive-manifest/1"
        for s in report["shards"]
    }
    live = {c["key"] for c in chunk_records(client, bucket) if c["state"] == "archived"}
    assert set(chunk_keys(client, bucket)) == live, "orphan objects left"
    restored = run_cli(fleet.path, ["archive", "restore", report["run"], "--json"], env)
    assert restored.returncode == 0, restored.stderr
    assert {i: table_checksums(url, TABLES) for i, url in enumerate(fleet.shard_urls)} == before


def chunk_keys_all(client: Any, bucket: str) -> list[str]:
    return [k["Key"] for k in client.list_objects_v2(Bucket=bucket).get("Contents", [])]
