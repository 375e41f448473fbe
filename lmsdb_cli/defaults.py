"""Library defaults the CLI shows in ``--help``, as literals.

Importing the library modules that own them would load SQLAlchemy, Alembic and the models
just to print help; ``tests/unit/test_startup.py`` checks each value against its owner.
"""

from __future__ import annotations

#: lms_db.fleet.locks.DEFAULT_LOCK_TIMEOUT
DEFAULT_LOCK_TIMEOUT = 30.0
#: lms_db.migrate.replication.DEFAULT_REPLICA_TIMEOUT
DEFAULT_REPLICA_TIMEOUT = 60.0
#: lms_db.dialects.facts.DIALECTS
DIALECTS = ("mysql", "mariadb", "postgresql", "sqlite")
#: lms_db.demo.DEFAULT_USERS and DEFAULT_COURSES
DEMO_USERS = 600
DEMO_COURSES = 40
#: lms_db.lint.targets.TARGETS (its names, in order)
LINT_TARGETS = ("mysql8", "mariadb")
#: lms_db.moves.plan.DEFAULT_CHUNK_SIZE and DEFAULT_FREEZE_TIMEOUT
MOVE_CHUNK_SIZE = 10_000
MOVE_FREEZE_TIMEOUT = 5.0
#: lms_db.moves.rebalance.DEFAULT_BUCKETS and rebalance_plan.DEFAULT_TOLERANCE
REBALANCE_BUCKETS = 16
REBALANCE_TOLERANCE = 0.1
#: lms_db.moves.audit.DEFAULT_SAMPLE and lms_db.moves.checksum.DEFAULT_CHUNK_ROWS
VERIFY_SAMPLE = 5
VERIFY_CHUNK_ROWS = 10000
