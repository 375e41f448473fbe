"""A benchmark leg's own peak memory."""

from __future__ import annotations

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
