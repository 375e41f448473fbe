"""Deterministic, realistic sample data for a whole topology, placed by the Router.

Example::

    from lms_db.router import Router
    from lms_db.sample import load_sample

    with Router.from_topology(topology) as router:
        result = load_sample(router, users=10_000, courses=200, seed=7)
        print(result.total_rows, f"{result.rows_per_second:,.0f} rows/s")
"""

from __future__ import annotations

from lms_db.sample.guard import open_sample_router
from lms_db.sample.load import LoadProgress, LoadResult, load_sample, parse_skew

__all__ = ["LoadProgress", "LoadResult", "load_sample", "open_sample_router", "parse_skew"]
