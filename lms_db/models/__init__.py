"""The LMS schema as SQLAlchemy models, one module per domain."""

from __future__ import annotations

from lms_db.models import (  # noqa: F401 - registers the tables
    analytics,
    audit,
    commerce,
    courses,
    learning,
    popular,
    users,
)
from lms_db.models.base import AnalyticsBase, Base

metadata = Base.metadata
analytics_metadata = AnalyticsBase.metadata

__all__ = ["AnalyticsBase", "Base", "analytics_metadata", "metadata"]
