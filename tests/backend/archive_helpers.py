"""Fleets with learning data for the archive tests, and what the store holds for a run.

Each shard gets users in its range, enrollments (old completed ones to archive, recent and
active ones to keep, one old completed one held by a certificate), their lesson progress
and quiz attempts, with the awkward values: 4-byte UTF-8, JSON, DECIMAL, NULL next to '',
TIMESTAMPs, BIGINT UNSIGNED near its maximum.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL

from lms_db.archive.codec import decode_chunk
from lms_db.models import Base
from tests.backend.fleet_helpers import REPO_ROOT
from tests.backend.router_helpers import Fleet, build_fleet, sqlite_maker

TABLES = ("enrollments", "lesson_progress", "quiz_attempts", "certificates")
TWO_SHARDS = ({"user": (0, 1000), "course": (0, 100)}, {"user": (1000, 2000), "course": (100, 200)})
OLD = datetime(2021, 6, 1, 12, 30, 15, tzinfo=UTC)
RECENT = datetime.now(UTC).replace(microsecond=0) - timedelta(days=30)


def make_fleet(
    request: Any,
    tmp_path: Path,
    backend: str,
    archive: dict[str, str] | None = None,
    shards: int = 2,
) -> Fleet:
    if backend == "mariadb":
        make: Callable[[], URL] = request.getfixturevalue("make_mariadb_database")
    elif backend == "postgresql":
        make = request.getfixturevalue("make_postgresql_database")
    else:
        make = sqlite_maker(tmp_path)
    fleet = build_fleet(tmp_path, backend, make, shards=shards, ranges=TWO_SHARDS[:shards])
    if archive:
        text = fleet.path.read_text(encoding="utf-8")
        lines = ["[archive]", *(f'{k} = "{v}"' for k, v in archive.items()), ""]
        fleet.path.write_text("\n".join(lines) + text, encoding="utf-8")
    return fleet


def seed_learning(fleet: Fleet, *, per_shard: int = 12) -> dict[int, list[int]]:
    """Data on every shard; returns shard -> ids of the enrollments an archive should take."""
    md = Base.metadata
    users, enrollments = md.tables["users"], md.tables["enrollments"]
    progress, attempts = md.tables["lesson_progress"], md.tables["quiz_attempts"]
    certificates = md.tables["certificates"]
    big = 2**64 - 5 if fleet.backend == "mariadb" else 2**63 - 5
    expected: dict[int, list[int]] = {}
    for index, url in enumerate(fleet.shard_urls):
        base = index * 1000
        engine = sa.create_engine(url)
        rows_u, rows_e, rows_p, rows_a = [], [], [], []
        expected[index] = []
        for n in range(per_shard):
            uid = base + n + 1
            rows_u.append(
                {
                    "id": uid,
                    "uuid": f"00000000-0000-0000-0000-{uid:012d}",
                    "email": f"u{uid}@example.com",
                    "password_hash": "x",
                    "first_name": "Zoë \U0001f600",
                    "last_name": "" if n % 2 else "L",
                }
            )
            eid = base * 10 + n + 1
            kind = n % 4  # 0,1: old completed (archived), 2: recent completed, 3: active
            completed = OLD + timedelta(days=n) if kind < 2 else (RECENT if kind == 2 else None)
            rows_e.append(
                {
                    "id": eid,
                    "user_id": uid,
                    "course_id": index * 100 + n,
                    "status": "completed" if kind < 3 else "active",
                    "progress_percentage": Decimal("99.99") if kind < 3 else None,
                    "completed_lessons": n,
                    "total_lessons": None,
                    "total_watch_time_seconds": big + (n % 3),
                    "completed_at": completed,
                    "enrolled_at": OLD - timedelta(days=90),
                    "created_at": OLD - timedelta(days=90),
                    "updated_at": OLD,
                }
            )
            for k in range(2):
                rows_p.append(
                    {
                        "id": eid * 10 + k,
                        "user_id": uid,
                        "lesson_id": k + 1,
                        "enrollment_id": eid,
                        "status": "completed",
                        "progress_percentage": Decimal("100.00"),
                        "user_notes": None if k else "notes \U0001f680 ∑ 'quoted'",
                        "completed_at": completed,
                    }
                )
            rows_a.append(
                {
                    "id": eid * 10,
                    "quiz_id": 7,
                    "user_id": uid,
                    "enrollment_id": eid,
                    "attempt_number": 1,
                    "answers": [{"q": 1, "a": "\U0001f600", "ok": True, "pts": 1.5}],
                    "total_points": Decimal("10.00"),
                    "earned_points": Decimal("7.25"),
                    "passed": n % 2 == 0,
                    "started_at": OLD,
                    "submitted_at": None,
                    "feedback": "" if n % 3 else None,
                }
            )
            if kind < 2:
                expected[index].append(eid)
        held = expected[index].pop(0)  # this one keeps a certificate: not archived
        with engine.begin() as conn:
            for table, rows in (
                (users, rows_u),
                (enrollments, rows_e),
                (progress, rows_p),
                (attempts, rows_a),
            ):
                conn.execute(table.insert(), rows)
            conn.execute(
                certificates.insert(),
                [
                    {
                        "id": base + 1,
                        "user_id": base + 1,
                        "course_id": index * 100,
                        "enrollment_id": held,
                        "certificate_number": f"C-{held}",
                        "verification_code": f"{held:032d}",
                        "student_name": "Zoë",
                        "course_title": "T",
                        "completion_date": OLD.date(),
                    }
                ],
            )
        engine.dispose()
    return expected


def ids_in(url: URL, table: str, column: str = "id") -> list[int]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return sorted(
                int(v) for v in conn.execute(sa.text(f"SELECT {column} FROM {table}")).scalars()
            )
    finally:
        engine.dispose()


def archived_rows(client: Any, bucket: str) -> dict[str, list[int]]:
    """table -> ids found in the live chunks of every run in the bucket (with repeats)."""
    found: dict[str, list[int]] = {}
    for chunk in chunk_records(client, bucket):
        if chunk["state"] not in ("archived", "copied"):
            continue
        blob = client.get_object(Bucket=bucket, Key=chunk["key"])["Body"].read()
        rows = decode_chunk(blob)
        for table, names in rows.columns.items():
            index = names.index("id")
            found.setdefault(table, []).extend(int(r[index]) for r in rows.rows[table])
    return found


def archived_records(client: Any, bucket: str) -> dict[str, list[dict[str, Any]]]:
    """table -> rows (column -> value) in the live chunks of every run in the bucket."""
    found: dict[str, list[dict[str, Any]]] = {}
    for chunk in chunk_records(client, bucket):
        if chunk["state"] in ("archived", "copied"):
            rows = decode_chunk(client.get_object(Bucket=bucket, Key=chunk["key"])["Body"].read())
            for table in rows.columns:
                found.setdefault(table, []).extend(rows.records(table))
    return found


def chunk_records(client: Any, bucket: str) -> list[dict[str, Any]]:
    """Every chunk record of every run in the bucket: a complete run's through its
    manifest, an unfinished run's (no manifest yet) from its part objects."""
    paginator = client.get_paginator("list_objects_v2")
    keys = [
        item["Key"]
        for page in paginator.paginate(Bucket=bucket)
        for item in page.get("Contents", ())
    ]
    records: list[dict[str, Any]] = []
    for key in keys:
        if key.endswith("manifest.json"):
            records.extend(manifest_chunks(client, bucket, key))
        elif "/parts/" in key and key.split("/parts/")[0] + "/manifest.json" not in keys:
            records.append(json.loads(client.get_object(Bucket=bucket, Key=key)["Body"].read()))
    return records


def manifest_chunks(client: Any, bucket: str, key: str) -> list[dict[str, Any]]:
    """The chunk records of the manifest at ``key``: inline (format 1) or its parts."""
    manifest = json.loads(client.get_object(Bucket=bucket, Key=key)["Body"].read())
    if manifest["format"] == "lmsdb-archive-manifest/1":
        return list(manifest["chunks"])
    assert manifest["format"] == "lmsdb-archive-manifest/2", manifest["format"]
    assert manifest["chunks"] == len(manifest["parts"])
    return [
        json.loads(client.get_object(Bucket=bucket, Key=part)["Body"].read())
        for part in manifest["parts"]
    ]


def chunk_keys(client: Any, bucket: str) -> list[str]:
    paginator = client.get_paginator("list_objects_v2")
    return sorted(
        item["Key"]
        for page in paginator.paginate(Bucket=bucket)
        for item in page.get("Contents", ())
        if item["Key"].endswith(".jsonl.zst")
    )


def cli_env(s3_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LMSDB_")}
    env.update(
        {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing-secret",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ENDPOINT_URL": s3_url,
            "PYTHONPATH": str(REPO_ROOT),
        }
    )
    env.update(extra)
    return env


def run_cli(
    topology: Path, args: Sequence[str], env: dict[str, str], timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(REPO_ROOT / "cli.py"), "--topology", str(topology), *args],
        cwd=REPO_ROOT,
        env=env,
        text=True,
        capture_output=True,
        timeout=timeout,
        check=False,
    )


def kill_at(
    topology: Path,
    args: Sequence[str],
    env: dict[str, str],
    point: str,
    marker: Path,
    timeout: float = 60,
) -> None:
    """Run the CLI until it reaches pause ``point``, then SIGKILL its whole process group."""
    env = {**env, "LMSDB_TEST_PAUSE_AT": point, "LMSDB_TEST_PAUSE_FILE": str(marker)}
    marker.unlink(missing_ok=True)
    proc = subprocess.Popen(
        [sys.executable, str(REPO_ROOT / "cli.py"), "--topology", str(topology), *args],
        cwd=REPO_ROOT,
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    deadline = time.monotonic() + timeout
    try:
        while not marker.exists():
            if proc.poll() is not None:
                out, err = proc.communicate()
                raise AssertionError(f"exited {proc.returncode} before {point}: {out}{err}")
            if time.monotonic() > deadline:
                raise AssertionError(f"never reached {point}")
            time.sleep(0.05)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        proc.stdout.close()  # type: ignore[union-attr]
        proc.stderr.close()  # type: ignore[union-attr]


def stop_at(
    topology: Path,
    args: Sequence[str],
    env: dict[str, str],
    point: str,
    marker: Path,
    timeout: float = 60,
) -> subprocess.Popen[str]:
    """Start the CLI and return once it has stopped itself (SIGSTOP) at ``point``."""
    env = {
        **env,
        "LMSDB_TEST_PAUSE_AT": point,
        "LMSDB_TEST_PAUSE_FILE": str(marker),
        "LMSDB_TEST_PAUSE_MODE": "stop",
    }
    marker.unlink(missing_ok=True)
    proc = subprocess.Popen(
        [sys.executable, str(REPO_ROOT / "cli.py"), "--topology", str(topology), *args],
        cwd=REPO_ROOT,
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    deadline = time.monotonic() + timeout
    while not marker.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            os.killpg(proc.pid, signal.SIGKILL)
            raise AssertionError(f"never reached {point}: {proc.communicate()}")
        time.sleep(0.05)
    time.sleep(0.2)  # the marker is written just before the SIGSTOP
    return proc


def checksums_without_user(url: URL, tables: Sequence[str], user: int) -> dict[str, str]:
    """Like ``table_checksums`` over the rows of every user but ``user``."""
    import hashlib

    engine = sa.create_engine(url)
    out = {}
    try:
        with engine.connect() as conn:
            md = sa.MetaData()
            for name in tables:
                table = sa.Table(name, md, autoload_with=conn)
                digest = hashlib.sha256()
                query = sa.select(table).where(table.c.user_id != user).order_by(*table.columns)
                for row in conn.execute(query):
                    digest.update(repr(tuple(row)).encode())
                out[name] = digest.hexdigest()
    finally:
        engine.dispose()
    return out


def user_rows_in_objects(client: Any, bucket: str, user: int) -> int:
    """Rows with ``user_id == user`` in any chunk object of the bucket."""
    count = 0
    for key in chunk_keys(client, bucket):
        chunk = decode_chunk(client.get_object(Bucket=bucket, Key=key)["Body"].read())
        for table, names in chunk.columns.items():
            index = names.index("user_id")
            count += sum(1 for r in chunk.rows[table] if r[index] == user)
    return count
