"""``popular_courses``: the seed's materialized view, defined once.

PostgreSQL gets a native materialized view (plus the unique index that
``REFRESH ... CONCURRENTLY`` needs).  MySQL/MariaDB and SQLite have none, so the same
columns live in a backing table (``info["is_view"]``) that ``lmsdb views refresh`` rebuilds
(see :mod:`lms_db.schema.views`).  It is per shard: the courses of one shard's course range.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from lms_db.models.base import Base, table_options
from lms_db.models.courses import Course, CourseCategory
from lms_db.models.types import BigUnsigned, IntUnsigned

POPULAR_COURSES_LIMIT = 100


@dataclass(frozen=True)
class MaterializedView:
    """A view's name, its query and the backing table that emulates it.

    :param name: the view's name.
    :param query: the SELECT that fills it.
    :param table: the backing table (MySQL/MariaDB/SQLite) with the same columns.
    :param unique_key: columns of the unique index (needed for a concurrent refresh).
    """

    name: str
    query: sa.Select[tuple[object, ...]]
    table: sa.Table
    unique_key: tuple[str, ...]


def _popular_courses_query() -> sa.Select[tuple[object, ...]]:
    c = Course.__table__.alias("c")
    cat = CourseCategory.__table__.alias("cat")
    return (
        sa.select(
            c.c.id,
            c.c.title,
            c.c.thumbnail_url,
            c.c.price,
            c.c.average_rating,
            c.c.enrollment_count,
            c.c.review_count,
            cat.c.name.label("category_name"),
        )
        .select_from(c.outerjoin(cat, c.c.category_id == cat.c.id))
        .where(c.c.status == "published")
        # id breaks ties so that every refresh picks the same 100 rows.
        .order_by(c.c.enrollment_count.desc(), c.c.id)
        .limit(POPULAR_COURSES_LIMIT)
    )


popular_courses_table = sa.Table(
    "popular_courses",
    Base.metadata,
    sa.Column("id", BigUnsigned, primary_key=True, autoincrement=False),
    sa.Column("title", sa.String(255), nullable=False),
    sa.Column("thumbnail_url", sa.String(500)),
    sa.Column("price", sa.Numeric(10, 2)),
    sa.Column("average_rating", sa.Numeric(3, 2)),
    sa.Column("enrollment_count", IntUnsigned),
    sa.Column("review_count", IntUnsigned),
    sa.Column("category_name", sa.String(100)),
    sa.Index("idx_popular_courses_enrollment_count", "enrollment_count"),
    **table_options(keyspace="course", shard_key="id", is_view=True),
)

POPULAR_COURSES = MaterializedView(
    name="popular_courses",
    query=_popular_courses_query(),
    table=popular_courses_table,
    unique_key=("id",),
)

MATERIALIZED_VIEWS: dict[str, MaterializedView] = {POPULAR_COURSES.name: POPULAR_COURSES}
