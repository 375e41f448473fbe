"""PostgreSQL: partitioned tables, ``updated_at`` triggers, row-level security."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.schema import CreateTable

from lms_db.dialects.facts import quote, touch_trigger_name
from lms_db.models.partitions import PartitionSpec

TOUCH_FUNCTION = "lmsdb_touch_updated_at"


@compiles(CreateTable, "postgresql")
def _create_table_partitioned(element: CreateTable, compiler: Any, **kw: Any) -> str:
    text: str = compiler.visit_create_table(element, **kw)
    spec: PartitionSpec | None = element.element.info.get("partition")
    # A TimescaleDB hypertable must start as a plain table: schema.ddl passes hypertable=True.
    if spec is not None and spec.applied and not kw.get("hypertable"):
        key = spec.postgresql_expression or spec.expression
        text = text.rstrip() + f" PARTITION BY {spec.kind.split()[0]} ({key})\n\n"
    return text


def touch_function() -> str:
    """The trigger function that emulates MySQL's ``ON UPDATE CURRENT_TIMESTAMP``."""
    return (
        f"CREATE OR REPLACE FUNCTION {TOUCH_FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $$\n"
        "BEGIN\n"
        "    IF NEW.updated_at IS NOT DISTINCT FROM OLD.updated_at THEN\n"
        "        NEW.updated_at := CURRENT_TIMESTAMP;\n"
        "    END IF;\n"
        "    RETURN NEW;\n"
        "END\n$$"
    )


def touch_trigger(table: sa.Table) -> str:
    """``BEFORE UPDATE`` trigger on ``table`` using :func:`touch_function`."""
    name = quote("postgresql", table.name)
    trigger = quote("postgresql", touch_trigger_name(table.name))
    return (
        f"CREATE TRIGGER {trigger} BEFORE UPDATE ON {name} "
        f"FOR EACH ROW EXECUTE FUNCTION {TOUCH_FUNCTION}()"
    )


def default_partition(table: sa.Table) -> str:
    """A DEFAULT partition so inserts never fail before time partitions are created."""
    default = quote("postgresql", f"{table.name}_default")
    return f"CREATE TABLE {default} PARTITION OF {quote('postgresql', table.name)} DEFAULT"


#: The seed's ``user_data_policy``: a user sees their own row, an admin sees all.  The seed's
#: ``CURRENT_USER_ID()``/``CURRENT_USER_ROLE()`` become session settings the app sets with
#: ``SET lmsdb.current_user_id = ...`` (owners and superusers bypass RLS, as always).
USER_POLICY = "user_data_policy"
USER_POLICY_USING = (
    "id = NULLIF(current_setting('lmsdb.current_user_id', true), '')::bigint "
    "OR current_setting('lmsdb.current_user_role', true) = 'admin'"
)


def row_level_security(table: sa.Table) -> list[str]:
    """Statements that enable the seed's row-level security on ``table``.

    The models say which tables have it (``Table.info["row_level_security"]``, on ``users``):
    the policy lets a user see their own row and an admin see all.
    """
    name = quote("postgresql", table.name)
    return [
        f"ALTER TABLE {name} ENABLE ROW LEVEL SECURITY",
        f"CREATE POLICY {USER_POLICY} ON {name} FOR SELECT USING ({USER_POLICY_USING})",
    ]
