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
