"""Alembic environment of the OLTP schema: run on every shard primary by ``lmsdb migrate``.

The body is shared with the other histories: :mod:`lms_db.migrate.alembic_env`.
"""

from __future__ import annotations

import lms_db
from lms_db.migrate.alembic_env import run_environment

run_environment(lms_db.metadata)
