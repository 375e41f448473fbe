"""The Glacier flow, and ``archive forget --user`` (with a crash in the middle)."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import botocore.exceptions
import pytest

from tests.backend.archive_helpers import (
    TABLES,
    archived_rows,
    checksums_without_user,
    chunk_keys,
    cli_env,
    kill_at,
    make_fleet,
    run_cli,
    seed_learning,
    user_rows_in_objects,
)
from tests.backend.router_helpers import table_checksums
from tests.backend.s3_helpers import S3Endpoint, fixture_bucket, fixture_s3  # noqa: F401

FILTER = ["--older-than", "2y", "--date-column", "completed_at", "--status", "completed"]


def test_glacier_run_is_cold_until_restored_then_comes_back(
    request: pytest.FixtureRequest, tmp_path: Path, s3: S3Endpoint, bucket: str
) -> None:
    fleet = make_fleet(request, tmp_path, "postgresql")
    seed_learning(fleet)
    before = [table_checksums(url, TABLES) for url in fleet.shard_urls]
    env = cli_env(s3.url)
    result = run_cli(
        fleet.path,
        [
            "archive",
            "run",
            "enrollments",
            "--to",
            f"s3://{bucket}/g",
            *FILTER,
            "--storage-class",
            "GLACIER",
            "--sse",
            "aws:kms",
            "--kms-key-id",
            "alias/lms-archive",
            "--chunk-size",
            "3",
            "--yes",
            "--json",
        ],
        env,
    )
    assert result.returncode == 0, result.stderr
    run = json.loads(result.stdout)["run"]
    client = s3.client()
    keys = chunk_keys(client, bucket)
    assert keys
    for key in keys:
        head = client.head_object(Bucket=bucket, Key=key)
        assert head["StorageClass"] == "GLACIER"
        assert head["ServerSideEncryption"] == "aws:kms"
        assert head["SSEKMSKeyId"] == "alias/lms-archive"
        assert "Restore" not in head
        with pytest.raises(botocore.exceptions.ClientError, match="InvalidObjectState"):
            client.get_object(Bucket=bucket, Key=key)
    verified = json.loads(run_cli(fleet.path, ["archive", "verify", run, "--json"], env).stdout)
    assert {c["result"] for c in verified["chunks"]} == {"cold-ok"}

    restored = run_cli(fleet.path, ["archive", "restore", run, "--json"], env)
    assert restored.returncode == 0, restored.stderr
    assert json.loads(restored.stdout)["pending"] == 0  # moto makes restores available at once
    for key in keys:
        assert 'ongoing-request="false"' in client.head_object(Bucket=bucket, Key=key)["Restore"]
    assert [table_checksums(url, TABLES) for url in fleet.shard_urls] == before


@pytest.mark.parametrize("crash", [None, "forget:rewritten"])
def test_forget_removes_the_user_from_every_object_and_keeps_the_rest(
    request: pytest.FixtureRequest, tmp_path: Path, s3: S3Endpoint, bucket: str, crash: str | None
) -> None:
    fleet = make_fleet(request, tmp_path, "mariadb")
    expected = seed_learning(fleet)
    user = 2  # shard-0's second user: one archived enrollment with progress and an attempt
    before = [checksums_without_user(url, TABLES, user) for url in fleet.shard_urls]
    env = cli_env(s3.url)
    client = s3.client()
    for status in ("completed",):
        done = run_cli(
            fleet.path,
            [
                "archive",
                "run",
                "enrollments",
                "--to",
                f"s3://{bucket}/u",
                "--older-than",
                "2y",
                "--date-column",
                "completed_at",
                "--status",
                status,
                "--chunk-size",
                "2",
                "--yes",
                "--json",
            ],
            env,
        )
        assert done.returncode == 0, done.stderr
    run = json.loads(done.stdout)["run"]
    assert user_rows_in_objects(client, bucket, user) == 4  # enrollment, 2 progress, attempt
    keys_before = set(chunk_keys(client, bucket))

    if crash:
        kill_at(
            fleet.path,
            ["archive", "forget", "--user", str(user), "--yes"],
            env,
            crash,
            tmp_path / "paused",
        )
    forgot = run_cli(fleet.path, ["archive", "forget", "--user", str(user), "--yes", "--json"], env)
    assert forgot.returncode == 0, forgot.stdout + forgot.stderr
    assert user_rows_in_objects(client, bucket, user) == 0
    keys_after = set(chunk_keys(client, bucket))
    assert len(keys_before - keys_after) == 1  # exactly the object that held the user
    stored = archived_rows(client, bucket)
    assert sorted(stored["enrollments"]) == sorted(
        e for ids in expected.values() for e in ids if e != 2
    )
    verified = run_cli(fleet.path, ["archive", "verify", run], env)
    assert verified.returncode == 0, verified.stdout
    restored = run_cli(fleet.path, ["archive", "restore", run, "--json"], env)
    assert restored.returncode == 0, restored.stderr
    assert [checksums_without_user(url, TABLES, user) for url in fleet.shard_urls] == before
    listed = json.loads(run_cli(fleet.path, ["archive", "list", "--json"], env).stdout)
    assert listed[0]["rows"]["enrollments"] == len(stored["enrollments"])


def _restore_transition(s3: S3Endpoint, transition: dict[str, object] | None) -> None:
    """Set how moto's server moves a Glacier restore along (its state-manager API)."""
    action = "set-transition" if transition else "unset-transition"
    body = {"model_name": "s3::keyrestore", **({"transition": transition} if transition else {})}
    request = urllib.request.Request(
        f"{s3.url}/moto-api/state-manager/{action}",
        data=json.dumps(body).encode(),
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as reply:
        assert reply.status in (200, 201)


def test_glacier_restore_reports_pending_then_a_rerun_completes(
    request: pytest.FixtureRequest, tmp_path: Path, s3: S3Endpoint, bucket: str
) -> None:
    fleet = make_fleet(request, tmp_path, "sqlite")
    seed_learning(fleet, per_shard=6)
    before = [table_checksums(url, TABLES) for url in fleet.shard_urls]
    env = cli_env(s3.url)
    args = ["archive", "run", "enrollments", "--to", f"s3://{bucket}/p", *FILTER]
    args += ["--storage-class", "GLACIER", "--sse", "AES256", "--chunk-size", "2", "--yes"]
    result = run_cli(fleet.path, [*args, "--json"], env)
    assert result.returncode == 0, result.stderr
    run = json.loads(result.stdout)["run"]
    archived = [table_checksums(url, TABLES) for url in fleet.shard_urls]
    assert archived != before
    client = s3.client()
    keys = chunk_keys(client, bucket)
    try:
        # moto moves a restore one state per look: the look after the request sees it in
        # progress; then it stays in progress (as in AWS, for hours) until unset below.
        _restore_transition(s3, {"progression": "manual", "times": 0})
        first = run_cli(fleet.path, ["archive", "restore", run, "--json"], env)
        _restore_transition(s3, {"progression": "manual", "times": 10**9})
        assert first.returncode == 0, first.stdout + first.stderr
        assert json.loads(first.stdout)["pending"] == len(keys)
        for key in keys:
            assert 'ongoing-request="true"' in client.head_object(Bucket=bucket, Key=key)["Restore"]
        assert [table_checksums(url, TABLES) for url in fleet.shard_urls] == archived
    finally:
        _restore_transition(s3, None)  # restores become available
    again = run_cli(fleet.path, ["archive", "restore", run, "--json"], env)
    assert again.returncode == 0, again.stdout + again.stderr
    report = json.loads(again.stdout)
    assert report["pending"] == 0
    assert report["conflicts"] == 0
    assert [table_checksums(url, TABLES) for url in fleet.shard_urls] == before
