"""A benchmark leg's own peak memory, and the CPU time of the processes it drives."""

from __future__ import annotations

import os
import resource
from pathlib import Path


def peak_rss_kib(usage: resource.struct_rusage) -> float:
    """This process's own peak RSS (KiB).  Not ``ru_maxrss``: Linux keeps it across
    ``exec``, so in a child process it is at least its parent's RSS when it forked."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return float(line.split()[1])
    except OSError:
        pass
    return float(usage.ru_maxrss)


def process_cpu_s(name: str) -> float | None:
    """CPU seconds (user + system) used so far by the local process called ``name`` (e.g.
    ``mariadbd``), ``None`` when there is none or it is not readable here.  A benchmark
    reads it before and after a leg: the database server's share of the work."""
    ticks = 0
    found = False
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        comm, _, rest = text.partition(") ")
        if comm.split("(", 1)[-1] != name:
            continue
        fields = rest.split()
        ticks += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
        found = True
    return ticks / _CLOCK_TICKS if found else None


def self_cpu_s() -> float:
    """This process's CPU seconds so far, all its threads (e.g. an S3 server thread in it)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


_CLOCK_TICKS = float(os.sysconf("SC_CLK_TCK"))
