"""Versioned catalog upgrades: an ordered list of idempotent steps keyed by version.

The catalog records its schema version in ``catalog_schema`` (one row per version reached).
:func:`upgrade_catalog` (called by :func:`~lms_db.catalog.schema.ensure_catalog`, which every
command that opens a catalog goes through) takes the catalog's upgrade lock, re-reads the
version and runs each step newer than it, in order, recording each version as it lands.
A brand-new catalog is created with today's tables, recorded at
:data:`~lms_db.catalog.schema.BASE_CATALOG_VERSION` and then goes through the same steps,
so every step runs on every new catalog too (it finds its work done and does nothing).

**Adding a step** (a later feature needs a column, say for range moves):

1. change the table in :mod:`lms_db.catalog.schema` (new catalogs get it from there);
2. raise :data:`~lms_db.catalog.schema.CATALOG_SCHEMA_VERSION` by one;
3. append ``UpgradeStep(<new version>, "what it adds", _vN_function)`` to
   :data:`UPGRADE_STEPS`; the function gets a connection, must be idempotent (check before
   each change: ``_add_column_if_missing``) and must work on MariaDB/MySQL, PostgreSQL and
   SQLite (MySQL commits DDL implicitly, so a step may be cut off halfway and rerun);
4. add a test in ``tests/backend/test_catalog_upgrades.py`` starting from the v1 fixture.

Concurrency: the lock is ``GET_LOCK`` on MySQL/MariaDB, ``pg_advisory_lock`` on PostgreSQL
(both held by the session, so they survive MySQL's implicit commits) and ``BEGIN IMMEDIATE``
on SQLite (the whole upgrade is one transaction there).
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from alembic.migration import MigrationContext
from alembic.operations import Operations
from sqlalchemy.engine import Connection, Engine, make_url

from lms_db.catalog.schema import (
    CATALOG_SCHEMA_VERSION,
    catalog_schema,
    fleet,
    journal,
    raise_too_new,
    shards,
    utcnow,
)
from lms_db.config import is_env_reference
from lms_db.errors import CatalogError
from lms_db.topology.engines import short_reason
from lms_db.topology.urls import REMOVED_PASSWORD, SECRET_QUERY_KEYS

log = logging.getLogger(__name__)

#: Seconds to wait for another process's upgrade of the same catalog.
DEFAULT_UPGRADE_LOCK_TIMEOUT = 60


@dataclass(frozen=True)
class UpgradeStep:
    """One catalog upgrade.

    :param version: the version the catalog is at once the step ran.
    :param description: what it changes (logged).
    :param apply: the change; idempotent; gets a connection inside the upgrade lock.
    """

    version: int
    description: str
    apply: Callable[[Connection], None]


def upgrade_catalog(engine: Engine, *, lock_timeout: int = DEFAULT_UPGRADE_LOCK_TIMEOUT) -> int:
    """Run every upgrade step newer than the catalog's version, under the upgrade lock.

    :param engine: the catalog (its tables exist, ``catalog_schema`` has a row).
    :param lock_timeout: seconds to wait for another process upgrading the same catalog.
    :returns: the version reached (:data:`CATALOG_SCHEMA_VERSION`).
    :raises CatalogTooNew: the catalog is newer than this lmsdb.
    :raises CatalogError: a step failed or the lock was not granted in time (rerun: steps
        are idempotent).
    """
    try:
        with _upgrade_lock(engine, lock_timeout) as conn:
            version = _version(conn)
            if version > CATALOG_SCHEMA_VERSION:
                raise_too_new(conn, version)
            for step in UPGRADE_STEPS:
                if step.version <= version:
                    continue
                log.info("catalog upgrade to version %d: %s", step.version, step.description)
                step.apply(conn)
                if (
                    conn.execute(
                        sa.select(catalog_schema.c.version).where(
                            catalog_schema.c.version == step.version
                        )
                    ).first()
                    is None
                ):
                    conn.execute(catalog_schema.insert().values(version=step.version))
                if conn.dialect.name != "sqlite":  # SQLite: one transaction for all
                    conn.commit()
                version = step.version
            return version
    except sa.exc.DBAPIError as exc:
        shown = engine.url.render_as_string(hide_password=True)
        reason = short_reason(
            exc, engine.url.password if isinstance(engine.url.password, str) else None
        )
        raise CatalogError(
            f"catalog {shown}: upgrade failed: {reason}; rerun the command "
            "(upgrade steps are idempotent)"
        ) from exc


def _version(conn: Connection) -> int:
    return int(conn.execute(sa.select(sa.func.max(catalog_schema.c.version))).scalar() or 0)


@contextmanager
def _upgrade_lock(engine: Engine, timeout: int) -> Iterator[Connection]:
    name = f"lmsdb_catalog_upgrade:{engine.url.database or ''}"[:64]
    with engine.connect() as conn:
        dialect = conn.dialect.name
        if dialect == "sqlite":
            conn.exec_driver_sql("BEGIN IMMEDIATE")
            yield conn
            conn.commit()
            return
        if dialect in ("mysql", "mariadb"):
            got = conn.execute(
                sa.text("SELECT GET_LOCK(:n, :t)"), {"n": name, "t": timeout}
            ).scalar()
            release = sa.text("SELECT RELEASE_LOCK(:n)")
        else:
            conn.execute(
                sa.text("SELECT set_config('lock_timeout', :ms, true)"), {"ms": f"{timeout * 1000}"}
            )
            conn.execute(sa.text("SELECT pg_advisory_lock(hashtext(:n))"), {"n": name})
            got, release = 1, sa.text("SELECT pg_advisory_unlock(hashtext(:n))")
        conn.commit()
        if got != 1:
            raise CatalogError(
                f"catalog {engine.url.render_as_string(hide_password=True)}: "
                f"another lmsdb has been upgrading it for {timeout}s; retry"
            )
        try:
            yield conn
            conn.commit()
        finally:
            conn.rollback()
            conn.execute(release, {"n": name})
            conn.commit()


# -- the steps -----------------------------------------------------------------------------


def _add_column_if_missing(conn: Connection, table: sa.Table, column: str) -> None:
    present = {c["name"] for c in sa.inspect(conn).get_columns(table.name)}
    if column in present:
        return
    template = table.c[column]
    Operations(MigrationContext.configure(conn)).add_column(
        table.name, sa.Column(column, template.type, nullable=True)
    )


_PLACEHOLDER = "LMSDBREMOVEDPASSWORD"  # URL-safe; rendered as REMOVED_PASSWORD


def _scrub(template: str) -> str:
    """``template`` without a password in clear (an older lmsdb stored what it was given)."""
    try:
        url = make_url(template)
    except (sa.exc.ArgumentError, ValueError):
        return template
    changed = False
    password = url.password
    if isinstance(password, str) and password and not is_env_reference(password):
        url = url.set(password=_PLACEHOLDER)
        changed = True
    literal = {
        k: _PLACEHOLDER
        for k, v in url.query.items()
        if k.lower() in SECRET_QUERY_KEYS and isinstance(v, str) and not is_env_reference(v)
    }
    if literal:
        url = url.update_query_dict(literal)
        changed = True
    if not changed:
        return template
    return url.render_as_string(hide_password=False).replace(_PLACEHOLDER, REMOVED_PASSWORD)


def _scrub_payload(payload: Any) -> Any:
    if isinstance(payload, str):
        return _scrub(payload) if "://" in payload else payload
    if isinstance(payload, list):
        return [_scrub_payload(v) for v in payload]
    if isinstance(payload, dict):
        return {k: _scrub_payload(v) for k, v in payload.items()}
    return payload


def _v2_identity_and_replicas(conn: Connection) -> None:
    """The fleet id, replicas recorded on the shard row, and no password in clear."""
    fleet.create(conn, checkfirst=True)
    if conn.execute(sa.select(fleet.c.id)).first() is None:
        conn.execute(fleet.insert().values(id=1, fleet_id=str(uuid.uuid4()), created_at=utcnow()))
    _add_column_if_missing(conn, shards, "replica_url_templates")
    # Catalog-only shards kept their replicas in the journal entry of `shard add`.
    added = conn.execute(
        sa.select(journal.c.shard, journal.c.payload)
        .where(journal.c.operation == "shard-add", journal.c.state == "done")
        .order_by(journal.c.id)
    ).all()
    latest = {shard: payload for shard, payload in added if isinstance(payload, dict)}
    rows = conn.execute(
        sa.select(shards.c.name, shards.c.primary_url_template, shards.c.replica_url_templates)
    ).all()
    for name, primary, replicas in rows:
        values: dict[str, Any] = {}
        if replicas is None and name in latest:
            values["replica_url_templates"] = json.dumps(
                [_scrub(str(r)) for r in latest[name].get("replicas", [])]
            )
        elif replicas is not None:
            scrubbed = json.dumps([_scrub(str(r)) for r in json.loads(replicas)])
            if scrubbed != replicas:
                values["replica_url_templates"] = scrubbed
        if _scrub(primary) != primary:
            values["primary_url_template"] = _scrub(primary)
        if values:
            conn.execute(shards.update().where(shards.c.name == name).values(**values))
    for entry_id, payload in conn.execute(sa.select(journal.c.id, journal.c.payload)).all():
        cleaned = _scrub_payload(payload)
        if cleaned != payload:
            conn.execute(journal.update().where(journal.c.id == entry_id).values(payload=cleaned))


#: Every upgrade, oldest first; ``UPGRADE_STEPS[-1].version == CATALOG_SCHEMA_VERSION``.
UPGRADE_STEPS: tuple[UpgradeStep, ...] = (
    UpgradeStep(
        2,
        "fleet id (shard identity), replicas on the shard row, no password in clear",
        _v2_identity_and_replicas,
    ),
)
