"""Extra MariaDB servers started by the tests themselves: a GTID primary and its replica.

Like pytest-mysql: ``mariadb-install-db`` makes a datadir (about half a second), ``mariadbd``
serves it on a free loopback port, and the test session stops it at the end.  Nothing here
touches the MariaDB service on 3306.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import URL

STARTUP_TIMEOUT = 60.0


def binaries_available() -> bool:
    """Whether ``mariadbd`` and ``mariadb-install-db`` are installed."""
    return bool(shutil.which("mariadbd") or Path("/usr/sbin/mariadbd").exists()) and bool(
        shutil.which("mariadb-install-db")
    )


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class MariaDBServer:
    """A ``mariadbd`` this test session started.

    :param name: ``primary`` or ``replica``.
    :param port: its loopback port.
    :param datadir: its data directory.
    :param process: the running server.
    """

    name: str
    port: int
    datadir: Path
    process: subprocess.Popen[bytes]
    args: tuple[str, ...] = ()

    def url(self, database: str = "mysql") -> URL:
        """A root URL to ``database`` on this server."""
        return sa.engine.make_url(
            f"mysql+pymysql://root@127.0.0.1:{self.port}/{database}?charset=utf8mb4"
        )

    def execute(self, *statements: str) -> list[dict[str, object]]:
        """Run statements as root (autocommit); the last one's rows as dicts."""
        engine = sa.create_engine(
            self.url(), isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool
        )
        rows: list[dict[str, object]] = []
        try:
            with engine.connect() as conn:
                for statement in statements:
                    result = conn.exec_driver_sql(statement)
                    rows = [dict(r) for r in result.mappings()] if result.returns_rows else []
        finally:
            engine.dispose()
        return rows

    def kill(self) -> None:
        """SIGKILL the server (a crash), and wait for it to be gone."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def restart(self) -> None:
        """Start the server again on the same datadir and port (after stop or kill)."""
        self.process = subprocess.Popen(
            list(self.args), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        _wait_ready(self)

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after 20 seconds)."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_mariadbd(
    base: Path, name: str, server_id: int, *, primary: bool, options: Sequence[str] = ()
) -> MariaDBServer:
    """Install a datadir under ``base`` and start ``mariadbd`` on it.

    :param base: a temporary directory.
    :param name: ``primary`` or ``replica`` (the datadir's name).
    :param server_id: unique per server in a replication topology.
    :param primary: binary log on (ROW format); otherwise ``--read-only``.
    :param options: more server options, after the defaults (a later option wins; the
        benchmarks give a bigger buffer pool and full durability).
    """
    datadir = base / name
    # Its own tmpdir: a starting mariadbd deletes every ``#sql*`` file in its tmpdir (left,
    # it assumes, by its own crash), and with the default /tmp that took the live temporary
    # tables of the service on 3306 from under its queries ("Error on delete of
    # '/tmp/#sql-temptable-...MAI'").
    tmpdir = base / f"{name}-tmp"
    tmpdir.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            "mariadb-install-db",
            "--no-defaults",
            "--user=root",
            f"--datadir={datadir}",
            f"--tmpdir={tmpdir}",
            "--auth-root-authentication-method=normal",
            "--skip-test-db",
        ],
        check=True,
        capture_output=True,
    )
    port = free_port()
    mariadbd = shutil.which("mariadbd") or "/usr/sbin/mariadbd"
    args = [
        mariadbd,
        "--no-defaults",
        "--user=root",
        f"--datadir={datadir}",
        f"--tmpdir={tmpdir}",
        f"--port={port}",
        "--bind-address=127.0.0.1",
        f"--socket={datadir}.sock",
        f"--server-id={server_id}",
        f"--log-error={datadir}.err",
        f"--pid-file={datadir}.pid",
        "--skip-name-resolve",
        "--innodb-buffer-pool-size=32M",
        "--innodb-log-file-size=16M",
        "--innodb-flush-log-at-trx-commit=2",
        "--sync-binlog=0",
    ]
    args += ["--log-bin=binlog", "--binlog-format=ROW"] if primary else ["--read-only"]
    args += list(options)
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    server = MariaDBServer(name, port, datadir, process, tuple(args))
    _wait_ready(server)
    return server


def _wait_ready(server: MariaDBServer) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while True:
        if server.process.poll() is not None:
            log = Path(f"{server.datadir}.err").read_text(errors="replace")[-2000:]
            raise RuntimeError(
                f"mariadbd {server.name} exited with {server.process.returncode}:\n{log}"
            )
        try:
            server.execute("SELECT 1")
            return
        except sa.exc.OperationalError:
            if time.monotonic() > deadline:
                server.stop()
                raise
            time.sleep(0.1)


def replicate(replica: MariaDBServer, primary: MariaDBServer) -> None:
    """Make ``replica`` replicate ``primary`` with GTIDs, and wait until both threads run."""
    replica.execute(
        f"CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT={primary.port}, "
        "MASTER_USER='root', MASTER_USE_GTID=slave_pos",
        "START SLAVE",
    )
    wait_replicating(replica)


def wait_replicating(replica: MariaDBServer, timeout: float = 30.0) -> None:
    """Wait until the replica's IO and SQL threads both run."""
    deadline = time.monotonic() + timeout
    while True:
        status = replica.execute("SHOW SLAVE STATUS")
        if (
            status
            and status[0]["Slave_IO_Running"] == "Yes"
            and (status[0]["Slave_SQL_Running"] == "Yes")
        ):
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"replication does not start: {status}")
        time.sleep(0.1)


def wait_for_database(replica: MariaDBServer, name: str, timeout: float = 30.0) -> None:
    """Wait until a database created on the primary exists on ``replica``."""
    deadline = time.monotonic() + timeout
    while not replica.execute(f"SHOW DATABASES LIKE '{name}'"):
        if time.monotonic() > deadline:
            raise RuntimeError(f"database {name} never reached the replica")
        time.sleep(0.05)
