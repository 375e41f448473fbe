"""Initial OLTP schema: every table, index, trigger, view and policy of lms_db.metadata.

The statements are exactly those of ``lms_db.ddl.schema_statements(dialect)`` (what
``lmsdb schema sql`` prints), so the migrations and the models have one source.  Once a later
revision changes the models, freeze this one: see docs/migrations.md, "Writing revisions".

Revision ID: 0001
Revises:
Create Date: 2025-06-01 00:00:00

"""

from __future__ import annotations

from collections.abc import Sequence

from lms_db.fleet.schema_ops import create_schema_objects, drop_schema_objects

# revision identifiers, used by Alembic.
revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create the whole OLTP schema."""
    create_schema_objects("oltp")


def downgrade() -> None:
    """Drop the whole OLTP schema (every row in it is lost)."""
    drop_schema_objects("oltp")
