"""lms_db: the LMS database schema as code, and the fleet logic that runs it.

Application developers import the models, the metadata and the Router from here::

    from lms_db import Router, metadata, analytics_metadata
    from lms_db.models.users import User
"""

from __future__ import annotations

from lms_db.errors import (
    ConfigError,
    ConnectionFailed,
    DriftDetected,
    IdWindowExhausted,
    InputError,
    LintFailed,
    LmsDbError,
    OperationError,
    RangeFrozen,
    UnknownObjectError,
)
from lms_db.models import analytics_metadata, metadata
from lms_db.router import Router, ShardRoute

__all__ = [
    "ConfigError",
    "ConnectionFailed",
    "DriftDetected",
    "IdWindowExhausted",
    "InputError",
    "LintFailed",
    "LmsDbError",
    "OperationError",
    "RangeFrozen",
    "Router",
    "ShardRoute",
    "UnknownObjectError",
    "analytics_metadata",
    "metadata",
]
