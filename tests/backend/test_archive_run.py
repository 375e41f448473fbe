"""``lmsdb archive run`` then ``restore`` on every backend, against moto's S3 over HTTP."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.backend.archive_helpers import (
    TABLES,
    archived_rows,
    chunk_keys,
    ids_in,
    make_fleet,
    manifest_chunks,
    seed_learning,
)
from tests.backend.fleet_helpers import lmsdb
from tests.backend.router_helpers import table_checksums
from tests.backend.s3_helpers import S3Endpoint, fixture_bucket, fixture_s3  # noqa: F401

ARCHIVE = ("--older-than", "2y", "--date-column", "completed_at", "--status", "completed")


@pytest.mark.parametrize("backend", ["mariadb", "postgresql", "sqlite"])
def test_archive_then_restore_gives_back_every_row(
    request: pytest.FixtureRequest, tmp_path: Path, s3: S3Endpoint, bucket: str, backend: str
) -> None:
    fleet = make_fleet(request, tmp_path, backend, {"endpoint_url": s3.url, "region": "us-east-1"})
    expected = seed_learning(fleet)
    before = {i: table_checksums(url, TABLES) for i, url in enumerate(fleet.shard_urls)}

    dry = lmsdb(
        fleet.path,
        "archive",
        "run",
        "enrollments",
        "--to",
        f"s3://{bucket}/lms",
        *ARCHIVE,
        "--dry-run",
        "--json",
    )
    assert dry.exit_code == 0, dry.output
    plan = {p["shard"]: p for p in json.loads(dry.stdout)["plan"]}
    assert plan["shard-0"]["eligible"] == len(expected[0])
    assert plan["shard-0"]["blocked"] == 1  # the enrollment with a certificate
    assert chunk_keys(s3.client(), bucket) == []

    result = lmsdb(
        fleet.path,
        "archive",
        "run",
        "enrollments",
        "--to",
        f"s3://{bucket}/lms",
        *ARCHIVE,
        "--chunk-size",
        "2",
        "--storage-class",
        "STANDARD_IA",
        "--sse",
        "AES256",
        "--yes",
        "--json",
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    run = report["run"]
    assert {s["state"] for s in report["shards"]} == {"done"}

    client = s3.client()
    for index, url in enumerate(fleet.shard_urls):
        kept = set(ids_in(url, "enrollments"))
        assert not kept & set(expected[index])
        assert set(ids_in(url, "lesson_progress", "enrollment_id")).isdisjoint(expected[index])
        assert set(ids_in(url, "quiz_attempts", "enrollment_id")).isdisjoint(expected[index])
        assert len(ids_in(url, "certificates")) == 1  # untouched, its enrollment kept
    stored = archived_rows(client, bucket)
    archived = sorted(e for ids in expected.values() for e in ids)
    assert sorted(stored["enrollments"]) == archived
    assert len(stored["lesson_progress"]) == 2 * len(archived)
    for key in chunk_keys(client, bucket):
        assert key.startswith("lms/enrollments/shard-")
        assert f"/{run}/chunk-" in key
        head = client.head_object(Bucket=bucket, Key=key)
        assert head["StorageClass"] == "STANDARD_IA"
        assert head["ServerSideEncryption"] == "AES256"
    manifest_key = f"lms/enrollments/shard-0/{run}/manifest.json"
    manifest = json.loads(client.get_object(Bucket=bucket, Key=manifest_key)["Body"].read())
    assert manifest["state"] == "complete"
    assert manifest["storage_class"] == "STANDARD_IA"
    chunks = manifest_chunks(client, bucket, manifest_key)
    assert sum(c["rows"]["enrollments"] for c in chunks) == len(expected[0])
    for part in manifest["parts"]:  # the parts hold user ids: encrypted like the chunks
        assert client.head_object(Bucket=bucket, Key=part)["ServerSideEncryption"] == "AES256"

    listed = json.loads(lmsdb(fleet.path, "archive", "list", "--json").stdout)
    assert [r["run"] for r in listed] == [run]
    assert listed[0]["rows"]["enrollments"] == len(archived)
    verified = lmsdb(fleet.path, "archive", "verify", run, "--json")
    assert verified.exit_code == 0, verified.output

    # A rerun finds nothing more to archive and changes nothing.
    again = lmsdb(
        fleet.path,
        "archive",
        "run",
        "enrollments",
        "--to",
        f"s3://{bucket}/lms",
        *ARCHIVE,
        "--chunk-size",
        "2",
        "--storage-class",
        "STANDARD_IA",
        "--sse",
        "AES256",
        "--yes",
        "--json",
    )
    assert again.exit_code == 0, again.output
    assert all(
        s["rows"] == {} or not any(s["rows"].values()) for s in json.loads(again.stdout)["shards"]
    )

    restored = lmsdb(fleet.path, "archive", "restore", run, "--json")
    assert restored.exit_code == 0, restored.output
    after = {i: table_checksums(url, TABLES) for i, url in enumerate(fleet.shard_urls)}
    assert after == before
    # Restoring twice inserts nothing: every row is found identical.
    twice = json.loads(lmsdb(fleet.path, "archive", "restore", run, "--json").stdout)
    assert all(not s["inserted"] for s in twice["shards"])
    assert twice["conflicts"] == 0
    assert {i: table_checksums(url, TABLES) for i, url in enumerate(fleet.shard_urls)} == before


@pytest.mark.parametrize("backend", ["mariadb", "postgresql"])
def test_no_delete_copies_every_eligible_row_and_leaves_the_tables_alone(
    request: pytest.FixtureRequest, tmp_path: Path, s3: S3Endpoint, bucket: str, backend: str
) -> None:
    fleet = make_fleet(request, tmp_path, backend, {"endpoint_url": s3.url, "region": "us-east-1"})
    expected = seed_learning(fleet)
    before = {i: table_checksums(url, TABLES) for i, url in enumerate(fleet.shard_urls)}

    result = lmsdb(
        fleet.path,
        "archive",
        "run",
        "enrollments",
        "--to",
        f"s3://{bucket}/copy",
        *ARCHIVE,
        "--chunk-size",
        "2",
        "--no-delete",
        "--sse",
        "AES256",
        "--yes",
        "--json",
    )
    assert result.exit_code == 0, result.output
    assert {s["state"] for s in json.loads(result.stdout)["shards"]} == {"done"}
    # Nothing deleted anywhere; every eligible enrollment is in exactly one object.
    assert {i: table_checksums(url, TABLES) for i, url in enumerate(fleet.shard_urls)} == before
    copied = archived_rows(s3.client(), bucket)["enrollments"]
    assert sorted(copied) == sorted(expected[0] + expected[1])
