"""lms_db: the LMS database schema as code, and the fleet logic that runs it.

Application developers import the models, the metadata and the Router from here::

    from lms_db import Router, metadata, analytics_metadata
    from lms_db.models.users import User
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

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

if TYPE_CHECKING:
    from lms_db.models import analytics_metadata, metadata
    from lms_db.router import Router, ShardRoute

# The models and the Router load SQLAlchemy (most of a second on a slow machine): they are
# imported on first use (PEP 562), so `import lms_db.config` (what the CLI needs to print
# its help) does not pay for them.  `from lms_db import Router` works as before.
_LAZY = {
    "analytics_metadata": "lms_db.models",
    "metadata": "lms_db.models",
    "Router": "lms_db.router",
    "ShardRoute": "lms_db.router",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'lms_db' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


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
