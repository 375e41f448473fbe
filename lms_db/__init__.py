"""lms_db: the LMS database schema as code, and the fleet logic that runs it.

Application developers import the models and metadata from here::

    from lms_db import metadata, analytics_metadata
    from lms_db.models.users import User
"""

from __future__ import annotations

from lms_db.errors import (
    ConfigError,
    ConnectionFailed,
    DriftDetected,
    InputError,
    LintFailed,
    LmsDbError,
    OperationError,
    UnknownObjectError,
)
from lms_db.models import analytics_metadata, metadata

__all__ = [
    "ConfigError",
    "ConnectionFailed",
    "DriftDetected",
    "InputError",
    "LintFailed",
    "LmsDbError",
    "OperationError",
    "UnknownObjectError",
    "analytics_metadata",
    "metadata",
]
