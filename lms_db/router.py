"""The Router's import path named in the design (``lms_db.router``); it lives in
:mod:`lms_db.routing`.
"""

from __future__ import annotations

from lms_db.routing import DEFAULT_MAX_STALENESS, Router, ShardLocation, ShardRoute

__all__ = ["DEFAULT_MAX_STALENESS", "Router", "ShardLocation", "ShardRoute"]
