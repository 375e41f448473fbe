"""The migrations' head builds exactly the models' schema: a model change needs a revision."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from lms_db import analytics_metadata, metadata
from lms_db.migrate.database import upgrade_database
from lms_db.schema.compare import compare_database
from lms_db.topology.spec import DatabaseRef


def _ref(engine: Engine) -> DatabaseRef:
    return DatabaseRef(url=engine.url, template=engine.url.render_as_string(), field="test")


def test_oltp_head_matches_models(any_engine: Engine) -> None:
    upgrade_database(_ref(any_engine), "head", target="oltp")
    with any_engine.connect() as conn:
        assert compare_database(conn, metadata) == []


@pytest.mark.parametrize("backend", ["postgresql", "sqlite"])
def test_analytics_head_matches_models(backend: str, request: pytest.FixtureRequest) -> None:
    engine: Engine = request.getfixturevalue(f"{backend}_engine")
    upgrade_database(_ref(engine), "head", target="analytics")
    with engine.connect() as conn:
        assert compare_database(conn, analytics_metadata) == []
        assert conn.execute(sa.text("SELECT count(*) FROM user_events")).scalar() == 0
