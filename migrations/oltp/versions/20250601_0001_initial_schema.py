"""Initial OLTP schema: every table, index, trigger, view and policy of lms_db.metadata.

The statements are those ``lms_db.schema.ddl.schema_statements(dialect)`` rendered when this
revision was written (what ``lmsdb schema sql`` printed then), frozen in
``0001_initial_schema/<dialect>.sql``: a model change needs a new revision, and a test fails
until the migrations' head matches the models again (docs/migrations.md, "Writing revisions").

Revision ID: 0001
Revises:
Create Date: 2025-06-01 00:00:00

"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from lms_db.migrate.schema_ops import SchemaSnapshot, create_schema_objects, drop_schema_objects

# revision identifiers, used by Alembic.
revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: The DDL as rendered when this revision was written, frozen (one file per dialect).
SNAPSHOT = SchemaSnapshot(Path(__file__).parent / "0001_initial_schema")


def upgrade() -> None:
    """Create the whole OLTP schema."""
    create_schema_objects(SNAPSHOT)


def downgrade() -> None:
    """Drop the whole OLTP schema (every row in it is lost)."""
    drop_schema_objects(SNAPSHOT)
