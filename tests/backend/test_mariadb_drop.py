"""The suite's teardown survives MariaDB's errno 39: it removes the server's own temporary
trigger files, and says what else was left behind."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import URL

from tests.mariadb_drop import drop_mariadb_database


@pytest.fixture
def doomed_database(mariadb_server_url: URL) -> Iterator[tuple[sa.Connection, str, str]]:
    """A database with one table: its connection, name and (writable) directory."""
    engine = sa.create_engine(mariadb_server_url)
    name = f"lmsdb_drop_{uuid.uuid4().hex[:8]}"
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql(f"CREATE DATABASE {name}")
            conn.exec_driver_sql(f"CREATE TABLE {name}.t (id INT PRIMARY KEY)")
            directory = os.path.join(conn.exec_driver_sql("SELECT @@datadir").scalar_one(), name)
            if not os.access(directory, os.W_OK):
                pytest.skip("the server's data directory is not writable from here")
            yield conn, name, directory
    finally:
        engine.dispose()


@pytest.mark.parametrize("leftover", ["lmsdb_f_t_i.TRN-", "t.TRG-"])
def test_the_servers_own_trigger_temporaries_are_removed(
    doomed_database: tuple[sa.Connection, str, str], leftover: str
) -> None:
    conn, name, directory = doomed_database
    open(os.path.join(directory, leftover), "w").close()
    drop_mariadb_database(conn, name, attempts=2)  # no warning: an error here
    assert conn.exec_driver_sql(f"SHOW DATABASES LIKE '{name}'").all() == []
    assert not os.path.exists(directory)


def test_a_stray_file_in_the_directory_warns_with_its_name(
    doomed_database: tuple[sa.Connection, str, str],
) -> None:
    conn, name, directory = doomed_database
    stray = os.path.join(directory, "stray.txt")
    open(stray, "w").close()
    with pytest.warns(UserWarning, match=rf"{name}: \['stray.txt'\]"):
        drop_mariadb_database(conn, name, attempts=2)
    os.remove(stray)
    drop_mariadb_database(conn, name)  # the directory goes once it is empty
    exists = conn.exec_driver_sql(f"SHOW DATABASES LIKE '{name}'").all()
    assert exists == []
