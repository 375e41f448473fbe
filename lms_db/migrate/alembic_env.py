"""The shared body of lmsdb's Alembic environments (``migrations/*/env.py``).

lmsdb (:mod:`lms_db.migrate.database`) opens the connection, takes the per-database lock and
passes the connection in ``config.attributes["connection"]``; each revision runs in its own
transaction (``transaction_per_migration``), so a failure leaves the database at its last good
revision.  Offline (``lmsdb migrate sql``) the dialect comes from
``config.attributes["dialect_name"]``.  Only call :func:`run_environment` from an env.py.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import context

from lms_db.schema.compare import compare_server_default, include_object_for


def run_environment(target_metadata: sa.MetaData) -> None:
    """Run the migrations Alembic asked for, online or offline, against ``target_metadata``.

    :param target_metadata: ``lms_db.metadata`` or ``lms_db.analytics_metadata``.
    """
    config = context.config

    def _options(dialect_name: str) -> dict[str, Any]:
        return {
            "target_metadata": target_metadata,
            "transaction_per_migration": True,
            "include_object": include_object_for(dialect_name),
            "compare_type": True,
            "compare_server_default": compare_server_default,
            "render_as_batch": dialect_name == "sqlite",
        }

    def run_migrations_offline() -> None:
        """Emit the SQL of the requested revisions instead of running it."""
        dialect_name = config.attributes.get("dialect_name")
        url = None if dialect_name else config.get_main_option("sqlalchemy.url")
        if url:
            dialect_name = sa.engine.make_url(url).get_backend_name()
        context.configure(
            url=url,
            dialect_name=dialect_name if not url else None,
            literal_binds=True,
            dialect_opts={"paramstyle": "named"},
            **_options(str(dialect_name)),
        )
        with context.begin_transaction():
            context.run_migrations()

    def run_migrations_online() -> None:
        """Run the revisions on the connection lmsdb passed (or one built from sqlalchemy.url)."""
        connection = config.attributes.get("connection")
        if connection is None:
            engine = sa.engine_from_config(
                config.get_section(config.config_ini_section, {}),
                prefix="sqlalchemy.",
                poolclass=sa.pool.NullPool,
            )
            with engine.connect() as conn:
                _run(conn)
            engine.dispose()
            return
        _run(connection)

    def _run(connection: sa.Connection) -> None:
        options = _options(connection.dialect.name)
        if config.attributes.get("transactional_ddl") is not None:
            options["transactional_ddl"] = config.attributes["transactional_ddl"]
        context.configure(connection=connection, **options)
        with context.begin_transaction():
            context.run_migrations()

    if context.is_offline_mode():
        run_migrations_offline()
    else:
        run_migrations_online()
