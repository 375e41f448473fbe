"""Give the local database server CPUs of its own for a benchmark, as on a fleet where the
tool runs on another host than the database: the server's threads are pinned to some CPUs,
this process (and every process it starts afterwards) to the others.  Linux only."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa


def server_pid(url: str) -> int:
    """The process id of the MariaDB/MySQL server at ``url``, which must run on this host
    (its ``pid_file`` is read)."""
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            pid_file = str(conn.exec_driver_sql("SELECT @@pid_file").scalar_one())
            datadir = str(conn.exec_driver_sql("SELECT @@datadir").scalar_one())
    finally:
        engine.dispose()
    path = Path(pid_file) if Path(pid_file).is_absolute() else Path(datadir) / pid_file
    return int(path.read_text().split()[0])


def _pin_threads(pid: int, cpus: set[int]) -> None:
    # Every thread: sched_setaffinity on a pid moves only its main thread.
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            os.sched_setaffinity(int(task.name), cpus)
        except ProcessLookupError:  # a thread that ended meanwhile
            continue


@contextmanager
def server_on_own_cpus(url: str, server_cpus: set[int]) -> Iterator[dict[str, list[int]]]:
    """Pin the server at ``url`` to ``server_cpus`` and this process to the rest; undone on
    exit (threads the server starts meanwhile inherit its mask from their creator).

    :returns: the split, ``{"server": [...], "client": [...]}``.
    """
    everything = os.sched_getaffinity(0)
    client = everything - server_cpus
    if not server_cpus <= everything or not client:
        raise SystemExit(
            f"--server-cpus: need a proper subset of CPUs {sorted(everything)}, "
            f"got {sorted(server_cpus)}"
        )
    pid = server_pid(url)
    before = os.sched_getaffinity(pid)
    _pin_threads(pid, server_cpus)
    os.sched_setaffinity(0, client)
    try:
        yield {"server": sorted(server_cpus), "client": sorted(client)}
    finally:
        _pin_threads(pid, before)
        os.sched_setaffinity(0, everything)
