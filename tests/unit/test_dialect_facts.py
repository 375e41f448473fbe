"""lms_db.dialects.facts: the one place for dialect family, quoting, object names, renders_on."""

from __future__ import annotations

import sqlalchemy as sa

from lms_db import metadata
from lms_db.dialects.facts import (
    MYSQL_FAMILY,
    is_mysql_family,
    quote,
    renders_on,
    touch_trigger_name,
)
from lms_db.schema.ddl import schema_statements


def test_the_mysql_family() -> None:
    assert MYSQL_FAMILY == ("mysql", "mariadb")
    assert is_mysql_family("mariadb") and is_mysql_family("mysql")
    assert not is_mysql_family("postgresql") and not is_mysql_family("sqlite")


def test_quote_quotes_only_names_that_need_it() -> None:
    assert quote("mysql", "users") == "users"
    assert quote("mariadb", "order") == "`order`"
    assert quote("postgresql", "user") == '"user"'
    assert quote("postgresql", "Users") == '"Users"'
    assert quote("sqlite", "group") == '"group"'


def test_renders_on_reads_the_dialect_condition() -> None:
    plain = sa.Index("ix_plain", "a")
    only_mysql = sa.Index("ix_m", "a").ddl_if(dialect=MYSQL_FAMILY)  # type: ignore[arg-type]
    only_pg = sa.Index("ix_p", "a").ddl_if(dialect="postgresql")
    assert all(renders_on(plain, d) for d in ("mysql", "postgresql", "sqlite"))
    assert renders_on(only_mysql, "mariadb") and not renders_on(only_mysql, "sqlite")
    assert renders_on(only_pg, "postgresql") and not renders_on(only_pg, "mysql")


def test_trigger_names_come_from_one_place() -> None:
    assert touch_trigger_name("users") == "trg_users_updated_at"
    for dialect in ("postgresql", "sqlite"):
        ddl = "\n".join(schema_statements(dialect))
        assert f"CREATE TRIGGER {touch_trigger_name('courses')} " in ddl


def test_row_level_security_is_a_fact_of_the_model() -> None:
    secured = sorted(t.name for t in metadata.tables.values() if t.info.get("row_level_security"))
    assert secured == ["users"]
    ddl = schema_statements("postgresql")
    assert ddl.count("ALTER TABLE users ENABLE ROW LEVEL SECURITY") == 1
    assert not any("ROW LEVEL SECURITY" in s for s in schema_statements("mysql"))
