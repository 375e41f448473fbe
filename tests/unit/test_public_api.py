"""What `import lms_db` offers application developers: exactly this, no more, no less."""

from __future__ import annotations

import lms_db
import lms_db.router

PUBLIC = [
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


def test_lms_db_exports_exactly_the_public_api_sorted() -> None:
    assert lms_db.__all__ == PUBLIC
    assert lms_db.__all__ == sorted(lms_db.__all__)
    missing = [name for name in PUBLIC if not hasattr(lms_db, name)]
    assert missing == []


def test_the_router_has_one_import_path() -> None:
    assert lms_db.Router is lms_db.router.Router
    assert lms_db.Router.__module__ == "lms_db.router.router"
    assert lms_db.ShardRoute is lms_db.router.ShardRoute


def test_star_import_gives_exactly_all() -> None:
    namespace: dict[str, object] = {}
    exec("from lms_db import *", namespace)
    assert sorted(k for k in namespace if k != "__builtins__") == PUBLIC
