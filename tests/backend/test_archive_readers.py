"""An archive run and its restore through each MySQL reader: PyMySQL (always there) and
mysqlclient (the ``fast`` extra; skipped where it is not installed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lms_db.archive.restore import restore_run
from lms_db.archive.runner import ArchiveRequest, run_archive
from lms_db.errors import InputError
from lms_db.fleet.rawread import mysqlclient_available
from lms_db.topology.spec import load_topology
from tests.backend.archive_helpers import TABLES, archived_rows, make_fleet, seed_learning
from tests.backend.router_helpers import table_checksums
from tests.backend.s3_helpers import S3Endpoint, fixture_bucket, fixture_s3  # noqa: F401


@pytest.mark.parametrize("reader", ["pymysql", "mysqlclient"])
def test_archive_and_restore_through_each_reader(
    request: pytest.FixtureRequest, tmp_path: Path, s3: S3Endpoint, bucket: str, reader: str
) -> None:
    if reader == "mysqlclient" and not mysqlclient_available():
        pytest.skip("mysqlclient (the fast extra) is not installed")
    fleet = make_fleet(
        request, tmp_path, "mariadb", {"endpoint_url": s3.url, "region": "us-east-1"}, shards=1
    )
    expected = seed_learning(fleet)
    before = table_checksums(fleet.shard_urls[0], TABLES)
    topology = load_topology(fleet.path)
    report = run_archive(
        topology,
        ArchiveRequest(
            table="enrollments",
            destination=f"s3://{bucket}/r",
            older_than="2y",
            date_column="completed_at",
            status="completed",
            chunk_size=3,
            reader=reader,
        ),
    )
    [shard] = report.shards
    assert shard.state == "done", shard.error
    assert shard.superseded_rows == 0  # the read's checksum matched the delete's
    assert sorted(archived_rows(s3.client(), bucket)["enrollments"]) == sorted(expected[0])
    restore_run(topology, report.run)
    assert table_checksums(fleet.shard_urls[0], TABLES) == before


def test_asking_for_mysqlclient_without_it_is_refused(
    request: pytest.FixtureRequest, tmp_path: Path, s3: S3Endpoint, bucket: str
) -> None:
    if mysqlclient_available():
        pytest.skip("mysqlclient is installed here")
    fleet = make_fleet(request, tmp_path, "sqlite", {"endpoint_url": s3.url}, shards=1)
    with pytest.raises(InputError, match="mysqlclient"):
        run_archive(
            load_topology(fleet.path),
            ArchiveRequest(
                table="enrollments", destination=f"s3://{bucket}/r", reader="mysqlclient"
            ),
        )
