"""Alembic environment of the analytics schema (``user_events``), ``--target analytics``.

The body is shared with the other histories: :mod:`lms_db.migrate.alembic_env`.
"""

from __future__ import annotations

import lms_db
from lms_db.migrate.alembic_env import run_environment

run_environment(lms_db.analytics_metadata)
