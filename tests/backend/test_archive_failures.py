"""What goes wrong: bad filters, a corrupted object, a store that stops or refuses, a row
changed under the archive, a migration on the same shard.  Nothing unverified is deleted."""

from __future__ import annotations

import json
import os
import signal
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa

from lms_db.archive.codec import decode_chunk
from lms_db.archive.protocol import ChunkEvent
from lms_db.archive.runner import ArchiveRequest, run_archive
from lms_db.fleet.locks import migration_lock
from lms_db.topology.spec import load_topology
from tests.backend.archive_helpers import (
    TABLES,
    TWO_SHARDS,
    archived_records,
    archived_rows,
    chunk_keys,
    cli_env,
    ids_in,
    kill_at,
    make_fleet,
    run_cli,
    seed_learning,
    stop_at,
)
from tests.backend.fleet_helpers import lmsdb
from tests.backend.router_helpers import Fleet, build_fleet, sqlite_maker, table_checksums
from tests.backend.s3_helpers import S3Endpoint, fixture_bucket, fixture_s3, start_endpoint  # noqa: F401

FILTER = ["--older-than", "2y", "--date-column", "completed_at", "--status", "completed"]


def _run_args(bucket: str, *extra: str) -> list[str]:
    return [
        "archive",
        "run",
        "enrollments",
        "--to",
        f"s3://{bucket}/f",
        *FILTER,
        "--chunk-size",
        "2",
        "--parallel",
        "1",
        "--yes",
        "--json",
        *extra,
    ]


@pytest.fixture(scope="module")
def shared_fleet(tmp_path_factory: pytest.TempPathFactory, s3: S3Endpoint) -> Fleet:
    """One small SQLite fleet for the refusals (none of them may change it)."""
    tmp = tmp_path_factory.mktemp("refusals")
    fleet = build_fleet(tmp, "sqlite", sqlite_maker(tmp), shards=2, ranges=TWO_SHARDS)
    text = fleet.path.read_text(encoding="utf-8")
    fleet.path.write_text(
        f'[archive]\nendpoint_url = "{s3.url}"\nregion = "us-east-1"\n\n' + text, encoding="utf-8"
    )
    seed_learning(fleet, per_shard=4)
    return fleet


@pytest.mark.parametrize(
    "args",
    [
        ["--where", "id = 1 OR 1=1"],
        ["--where", "status = completed' OR '1'='1"],
        ["--where", "id; DROP TABLE enrollments; -- = 1"],
        ["--where", "nope = 1"],
        ["--where", "id ~ 1"],
        ["--where", "id"],
        ["--where", "completed_at < yesterday"],
        ["--older-than", "2 years; DELETE", "--date-column", "completed_at"],
        ["--older-than", "2y", "--date-column", "user_id"],
        ["--status", "completed; DROP TABLE users"],
        ["--storage-class", "COLD"],
        ["--sse", "rot13"],
        ["--kms-key-id", "alias/x"],
        ["--format", "parquet"],
        ["--chunk-size", "1000000"],
        ["--shard", "shard-9"],
    ],
)
def test_bad_options_exit_2_and_touch_nothing(
    shared_fleet: Fleet, s3: S3Endpoint, bucket: str, args: list[str]
) -> None:
    fleet = shared_fleet
    before = [table_checksums(url, TABLES) for url in fleet.shard_urls]
    result = lmsdb(
        fleet.path, "archive", "run", "enrollments", "--to", f"s3://{bucket}/x", "--yes", *args
    )
    assert result.exit_code == 2, result.output
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: ")
    assert "Traceback" not in result.stderr
    assert [table_checksums(url, TABLES) for url in fleet.shard_urls] == before
    assert chunk_keys(s3.client(), bucket) == []


def test_refusals_exit_2(
    request: pytest.FixtureRequest, tmp_path: Path, s3: S3Endpoint, bucket: str
) -> None:
    fleet = make_fleet(request, tmp_path, "sqlite")
    seed_learning(fleet, per_shard=4)
    env = cli_env(s3.url)
    to = ["--to", f"s3://{bucket}/x"]
    cascade = run_cli(fleet.path, ["archive", "run", "users", *to, "--yes"], env)
    assert cascade.returncode == 2 and "cascade" in cascade.stderr
    pii = run_cli(fleet.path, ["archive", "run", "audit_logs", *to, "--yes"], env)
    assert pii.returncode == 2 and "personal data" in pii.stderr, pii.stderr
    no_yes = run_cli(fleet.path, ["archive", "run", "enrollments", *to, *FILTER], env)
    assert no_yes.returncode == 2 and "--yes" in no_yes.stderr
    missing = run_cli(
        fleet.path,
        [
            "archive",
            "run",
            "enrollments",
            "--to",
            "s3://no-such-bucket-anywhere/x",
            *FILTER,
            "--yes",
        ],
        env,
    )
    assert missing.returncode == 2 and "does not exist" in missing.stderr
    unknown = run_cli(fleet.path, ["archive", "run", "nope", *to, "--yes"], env)
    assert unknown.returncode == 2 and "unknown table" in unknown.stderr
    encrypted = run_cli(
        fleet.path,
        [
            "archive",
            "run",
            "audit_logs",
            *to,
            "--sse",
            "AES256",
            "--older-than",
            "1y",
            "--date-column",
            "created_at",
            "--yes",
        ],
        env,
    )
    assert encrypted.returncode == 0, encrypted.stderr
    assert chunk_keys(s3.client(), bucket) == []  # audit_logs is empty: nothing stored


def test_corrupted_object_is_caught_before_any_delete(
    request: pytest.FixtureRequest, tmp_path: Path, s3: S3Endpoint, bucket: str
) -> None:
    fleet = make_fleet(request, tmp_path, "mariadb")
    seed_learning(fleet)
    original = ids_in(fleet.shard_urls[0], "enrollments")
    env = cli_env(s3.url)
    client = s3.client()
    proc = stop_at(
        fleet.path,
        _run_args(bucket, "--shard", "shard-0"),
        env,
        "upload:done",
        tmp_path / "stopped",
    )
    [key] = chunk_keys(client, bucket)
    size = client.head_object(Bucket=bucket, Key=key)["ContentLength"]
    client.put_object(Bucket=bucket, Key=key, Body=b"\0" * size)  # same size, other bytes
    os.killpg(proc.pid, signal.SIGCONT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1, out + err
    [shard] = json.loads(out)["shards"]
    assert shard["state"] == "failed" and "differ" in shard["error"]
    assert "\n" not in shard["error"]
    assert ids_in(fleet.shard_urls[0], "enrollments") == original  # nothing deleted

    rerun = run_cli(fleet.path, _run_args(bucket, "--shard", "shard-0"), env)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    stored = archived_rows(client, bucket)["enrollments"]
    assert sorted(stored + ids_in(fleet.shard_urls[0], "enrollments")) == original

    # Corruption after the run: verify says so, restore refuses the object.
    run = json.loads(rerun.stdout)["run"]
    victim = chunk_keys(client, bucket)[0]
    client.put_object(Bucket=bucket, Key=victim, Body=b"garbage")
    checked = run_cli(fleet.path, ["archive", "verify", run, "--json"], env)
    assert checked.returncode == 1
    assert [c["result"] for c in json.loads(checked.stdout)["chunks"]].count("mismatch") == 1
    refused = run_cli(fleet.path, ["archive", "restore", run], env)
    assert refused.returncode == 1 and "SHA-256" in refused.stderr
    assert refused.stderr.count("\n") == 1


def test_store_stopping_mid_run_deletes_only_verified_chunks(
    request: pytest.FixtureRequest, tmp_path: Path, s3: S3Endpoint, bucket: str
) -> None:
    own = start_endpoint()  # moto keeps its state per process: s3 still sees the objects
    fleet = make_fleet(
        request, tmp_path, "postgresql", {"endpoint_url": own.url, "region": "us-east-1"}
    )
    seed_learning(fleet)
    original = ids_in(fleet.shard_urls[0], "enrollments")
    stopped: list[int] = []

    def on_chunk(event: ChunkEvent) -> None:
        if not stopped:
            stopped.append(event.chunk)
            own.server.stop()

    report = run_archive(
        load_topology(fleet.path),
        ArchiveRequest(
            table="enrollments",
            destination=f"s3://{bucket}/f",
            older_than="2y",
            date_column="completed_at",
            status="completed",
            chunk_size=2,
            parallel=1,
            shards=("shard-0",),
        ),
        on_chunk=on_chunk,
    )
    [shard] = report.shards
    assert shard.state == "failed"
    assert shard.error is not None and "cannot reach the S3 endpoint" in shard.error
    assert "testing-secret" not in shard.error
    left = ids_in(fleet.shard_urls[0], "enrollments")
    client = s3.client()
    in_objects = [
        int(row[0])
        for key in chunk_keys(client, bucket)
        for row in decode_chunk(client.get_object(Bucket=bucket, Key=key)["Body"].read()).rows[
            "enrollments"
        ]
    ]
    # Nothing deleted that is not in a stored object; the first chunk is recorded.
    assert set(original) - set(left) <= set(in_objects)
    recorded = archived_rows(client, bucket).get("enrollments", [])
    assert len(recorded) >= 2 and not set(recorded) & set(left)

    # Back on a reachable endpoint (the same moto state), a rerun finishes the run: every
    # row in the table or in exactly one recorded object.
    fleet.path.write_text(fleet.path.read_text("utf-8").replace(own.url, s3.url), "utf-8")
    again = run_archive(
        load_topology(fleet.path),
        ArchiveRequest(
            table="enrollments",
            destination=f"s3://{bucket}/f",
            older_than="2y",
            date_column="completed_at",
            status="completed",
            chunk_size=2,
            parallel=1,
            shards=("shard-0",),
        ),
    )
    assert [s.state for s in again.shards] == ["done"], again.shards
    left = ids_in(fleet.shard_urls[0], "enrollments")
    recorded = archived_rows(client, bucket)["enrollments"]
    assert sorted(left + recorded) == original


def test_put_refused_by_bucket_policy_stops_with_one_line(
    request: pytest.FixtureRequest, tmp_path: Path, s3: S3Endpoint, bucket: str
) -> None:
    fleet = make_fleet(request, tmp_path, "sqlite")
    seed_learning(fleet, per_shard=4)
    before = [table_checksums(url, TABLES) for url in fleet.shard_urls]
    s3.client().put_bucket_policy(
        Bucket=bucket,
        Policy=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Deny",
                        "Principal": "*",
                        "Action": "s3:PutObject",
                        "Resource": f"arn:aws:s3:::{bucket}/*",
                    }
                ],
            }
        ),
    )
    result = run_cli(fleet.path, _run_args(bucket), cli_env(s3.url))
    assert result.returncode == 1
    errors = {s["error"] for s in json.loads(result.stdout)["shards"]}
    assert all(e and "access denied" in e and "\n" not in e for e in errors), errors
    assert [table_checksums(url, TABLES) for url in fleet.shard_urls] == before


def test_row_changed_after_a_crash_before_the_delete_committed_is_kept_then_taken_next_run(
    request: pytest.FixtureRequest, tmp_path: Path, s3: S3Endpoint, bucket: str
) -> None:
    """Killed with chunk 1 verified but its delete not committed (rolled back), a row of
    the chunk is changed; the rerun finds it differs from the object and keeps it."""
    fleet = make_fleet(request, tmp_path, "mariadb")
    expected = seed_learning(fleet)
    env = cli_env(s3.url)
    args = _run_args(bucket, "--shard", "shard-0")
    kill_at(fleet.path, args, env, "verify:done", tmp_path / "killed")
    changed = expected[0][0]  # in the first chunk
    engine = sa.create_engine(fleet.shard_urls[0])
    with engine.begin() as conn:
        edited = conn.execute(
            sa.text("UPDATE lesson_progress SET user_notes = 'edited' WHERE enrollment_id = :e"),
            {"e": changed},
        ).rowcount
    engine.dispose()
    assert edited == 2  # the kill rolled the chunk's delete back: its rows are there

    rerun = run_cli(fleet.path, args, env)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    [shard] = json.loads(rerun.stdout)["shards"]
    assert shard["superseded_rows"] == 2  # the whole first chunk stays
    assert changed in ids_in(fleet.shard_urls[0], "enrollments")
    assert changed not in archived_rows(s3.client(), bucket)["enrollments"]

    nxt = run_cli(fleet.path, args, env)
    assert nxt.returncode == 0, nxt.stderr
    assert changed not in ids_in(fleet.shard_urls[0], "enrollments")
    assert sorted(archived_rows(s3.client(), bucket)["enrollments"]) == sorted(expected[0])


def test_a_writer_updating_a_row_being_archived_waits_and_never_changes_a_deleted_row(
    request: pytest.FixtureRequest, tmp_path: Path, s3: S3Endpoint, bucket: str
) -> None:
    """From the chunk's read until its object is verified and its delete commits, the
    chunk's rows are locked: a writer's UPDATE waits, then finds them gone, and the
    object holds the rows as they were when read."""
    fleet = make_fleet(request, tmp_path, "mariadb")
    expected = seed_learning(fleet)
    env = cli_env(s3.url)
    proc = stop_at(
        fleet.path, _run_args(bucket, "--shard", "shard-0"), env, "verify:done", tmp_path / "s"
    )
    target = expected[0][0]  # in the first chunk, verified, its delete not yet committed
    engine = sa.create_engine(fleet.shard_urls[0])
    outcome: list[int] = []

    def writer() -> None:
        with engine.begin() as conn:
            outcome.append(
                conn.execute(
                    sa.text("UPDATE enrollments SET completed_lessons = 77 WHERE id = :e"),
                    {"e": target},
                ).rowcount
            )

    thread = threading.Thread(target=writer)
    try:
        thread.start()
        thread.join(timeout=1.5)
        assert thread.is_alive(), "the writer changed a row whose delete was in flight"
    finally:
        os.killpg(proc.pid, signal.SIGCONT)
    out, err = proc.communicate(timeout=60)
    thread.join(timeout=30)
    engine.dispose()
    assert proc.returncode == 0, out + err
    assert outcome == [0]  # the row was gone when the writer got it
    assert target not in ids_in(fleet.shard_urls[0], "enrollments")
    [row] = [
        r for r in archived_records(s3.client(), bucket)["enrollments"] if int(r["id"]) == target
    ]
    assert int(row["completed_lessons"]) != 77


def test_archive_and_migrate_exclude_each_other(
    request: pytest.FixtureRequest, tmp_path: Path, s3: S3Endpoint, bucket: str
) -> None:
    fleet = make_fleet(request, tmp_path, "mariadb")
    seed_learning(fleet)
    env = cli_env(s3.url)
    original = ids_in(fleet.shard_urls[0], "enrollments")
    # A migration holds shard-0's lock: the archive waits, gives up, deletes nothing.
    shard0 = fleet.topology.shard("shard-0").primary
    engine = sa.create_engine(shard0.url)
    with engine.connect() as conn, migration_lock(conn, shard0):
        held = run_cli(fleet.path, _run_args(bucket, "--lock-timeout", "1"), env)
    engine.dispose()
    assert held.returncode == 1
    states = {s["shard"]: s["state"] for s in json.loads(held.stdout)["shards"]}
    assert states == {"shard-0": "locked", "shard-1": "done"}
    assert ids_in(fleet.shard_urls[0], "enrollments") == original
    # An archive run in progress: migrate refuses the shard.
    proc = stop_at(
        fleet.path,
        _run_args(bucket, "--shard", "shard-0"),
        env,
        "verify:done",
        tmp_path / "stopped",
    )
    try:
        migrate = run_cli(
            fleet.path,
            ["migrate", "up", "--shard", "shard-0", "--lock-timeout", "1", "--json"],
            env,
        )
        assert migrate.returncode == 1, migrate.stdout + migrate.stderr
        assert "lock" in migrate.stdout
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()


def test_max_replica_lag_stops_a_shard_whose_replica_cannot_say(
    request: pytest.FixtureRequest, tmp_path: Path, s3: S3Endpoint, bucket: str
) -> None:
    fleet = make_fleet(request, tmp_path, "sqlite")
    seed_learning(fleet, per_shard=4)
    copy = tmp_path / "shard0-copy.sqlite"
    copy.write_bytes(Path(fleet.shard_urls[0].database or "").read_bytes())
    text = fleet.path.read_text(encoding="utf-8")
    first = text.index('name = "shard-0"')
    end = text.index("\n", text.index("primary =", first))
    fleet.path.write_text(
        text[:end] + f'\nreplicas = ["sqlite:///{copy}"]' + text[end:], encoding="utf-8"
    )
    before = ids_in(fleet.shard_urls[0], "enrollments")
    result = run_cli(
        fleet.path,
        _run_args(bucket, "--max-replica-lag", "5", "--replica-wait", "0"),
        cli_env(s3.url),
    )
    assert result.returncode == 1, result.stdout + result.stderr
    shards = {s["shard"]: s for s in json.loads(result.stdout)["shards"]}
    assert shards["shard-0"]["state"] == "failed"
    assert "lag unknown" in shards["shard-0"]["error"]
    assert shards["shard-1"]["state"] == "done"  # no replica to wait for
    assert ids_in(fleet.shard_urls[0], "enrollments") == before
