"""Column types that render faithfully on every dialect lmsdb targets.

MySQL/MariaDB get the seed's exact types (``BIGINT UNSIGNED``, ``ENUM``, ``TIMESTAMP``,
``LONGTEXT``).  PostgreSQL has no unsigned integers, so an unsigned type widens to the next
signed one that holds its whole range.  SQLite gets ``INTEGER`` for every integer so that an
integer primary key is the rowid (and auto-increments).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql, postgresql
from sqlalchemy.types import TypeEngine

from lms_db.dialects.facts import MYSQL_FAMILY


def _integer(base: TypeEngine[int], mysql_type: TypeEngine[int]) -> TypeEngine[int]:
    return base.with_variant(mysql_type, *MYSQL_FAMILY).with_variant(sa.Integer(), "sqlite")


#: ``BIGINT UNSIGNED`` (PostgreSQL ``BIGINT``).
BigUnsigned: TypeEngine[int] = _integer(sa.BigInteger(), mysql.BIGINT(unsigned=True))
#: ``INT UNSIGNED`` (PostgreSQL ``BIGINT``: ``INTEGER`` would not hold 2**32-1).
IntUnsigned: TypeEngine[int] = _integer(sa.BigInteger(), mysql.INTEGER(unsigned=True))
#: ``TINYINT UNSIGNED`` (PostgreSQL ``SMALLINT``).
TinyUnsigned: TypeEngine[int] = _integer(sa.SmallInteger(), mysql.TINYINT(unsigned=True))
#: Plain signed ``INT``.
Int: TypeEngine[int] = sa.Integer()
#: ``LONGTEXT`` (``TEXT`` elsewhere).
LongText: TypeEngine[str] = sa.Text().with_variant(mysql.LONGTEXT(), *MYSQL_FAMILY)
#: ``TIMESTAMP`` on MySQL (stored as UTC), ``TIMESTAMP WITH TIME ZONE`` on PostgreSQL.
Timestamp: TypeEngine[Any] = sa.DateTime(timezone=True).with_variant(
    mysql.TIMESTAMP(), *MYSQL_FAMILY
)
#: ``JSON`` (``JSONB`` on PostgreSQL: indexable, and what the seed's analytics table uses).
Json: TypeEngine[Any] = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def Enum(column: str, *values: str) -> TypeEngine[str]:
    """A native ``ENUM`` on MySQL/MariaDB; ``VARCHAR`` plus a CHECK elsewhere.

    :param column: the column's name; the CHECK is named ``ck_<table>_<column>``.
    :param values: the allowed values, in the seed's order.
    """
    base = sa.Enum(
        *values,
        name=column,
        native_enum=False,
        create_constraint=True,
        length=max(len(v) for v in values),
    )
    return base.with_variant(mysql.ENUM(*values), *MYSQL_FAMILY)
