# Rewrites lms_db module paths of the layout before #8 to the new ones (docs/restructure-map.md).
# Usage: sed -i -E -f scripts/restructure-imports.sed FILE...
# Safe on files already in the new layout (a test runs it over the whole tree: no change).
# Longest names first; "lms_db@" marks a rewritten name until the last two lines.
s/\blms_db\.migrate\.alembic_env\b/lms_db@migrate.alembic_env/g
s/\blms_db\.migrate\.replication\b/lms_db@migrate.replication/g
s/\blms_db\.migrate\.schema_ops\b/lms_db@migrate.schema_ops/g
s/\blms_db\.models\.partitions\b/lms_db@models.partitions/g
s/\blms_db\.topology\.template\b/lms_db@topology.template/g
s/\blms_db\.migrate\.blocking\b/lms_db@migrate.blocking/g
s/\blms_db\.migrate\.database\b/lms_db@migrate.database/g
s/\blms_db\.schema\.reference\b/lms_db@schema.reference/g
s/\blms_db\.shards\.inventory\b/lms_db@shards.inventory/g
s/\blms_db\.topology\.engines\b/lms_db@topology.engines/g
s/\blms_db\.migrate\.autogen\b/lms_db@migrate.autogen/g
s/\blms_db\.migrate\.scripts\b/lms_db@migrate.scripts/g
s/\blms_db\.migrate\.targets\b/lms_db@migrate.targets/g
s/\blms_db\.dialects\.facts\b/lms_db@dialects.facts/g
s/\blms_db\.migrate\.status\b/lms_db@migrate.status/g
s/\blms_db\.schema\.compare\b/lms_db@schema.compare/g
s/\blms_db\.schema\.project\b/lms_db@schema.project/g
s/\blms_db\.migrate\.drift\b/lms_db@migrate.drift/g
s/\blms_db\.router\.router\b/lms_db@router.router/g
s/\blms_db\.topology\.spec\b/lms_db@topology.spec/g
s/\blms_db\.topology\.urls\b/lms_db@topology.urls/g
s/\blms_db\.fleet\.fanout\b/lms_db@fleet.fanout/g
s/\blms_db\.ids\.counters\b/lms_db@ids.counters/g
s/\blms_db\.schema\.views\b/lms_db@schema.views/g
s/\blms_db\.fleet\.locks\b/lms_db@fleet.locks/g
s/\blms_db\.ids\.windows\b/lms_db@ids.windows/g
s/\blms_db\.migrate\.run\b/lms_db@migrate.run/g
s/\blms_db\.router\.keys\b/lms_db@router.keys/g
s/\blms_db\.router\.pool\b/lms_db@router.pool/g
s/\blms_db\.schema\.ddl\b/lms_db@schema.ddl/g
s/\blms_db\.shards\.add\b/lms_db@shards.add/g
s/\blms_db\.ids\.topup\b/lms_db@ids.topup/g
s/\blms_db\.migrate\b/lms_db@migrate/g
s/\blms_db\.router\b/lms_db@router/g
s/\blms_db\.fleet\.alembic_env\b/lms_db@migrate.alembic_env/g
s/\blms_db\.fleet\.replication\b/lms_db@migrate.replication/g
s/\blms_db\.topology_template\b/lms_db@topology.template/g
s/\blms_db\.fleet\.schema_ops\b/lms_db@migrate.schema_ops/g
s/\blms_db\.routing\.counters\b/lms_db@ids.counters/g
s/\blms_db\.fleet\.blocking\b/lms_db@migrate.blocking/g
s/\blms_db\.routing\.router\b/lms_db@router.router/g
s/\blms_db\.fleet\.autogen\b/lms_db@migrate.autogen/g
s/\blms_db\.fleet\.migrate\b/lms_db@migrate.database/g
s/\blms_db\.fleet\.scripts\b/lms_db@migrate.scripts/g
s/\blms_db\.fleet\.targets\b/lms_db@migrate.targets/g
s/\blms_db\.fleet\.status\b/lms_db@migrate.status/g
s/\blms_db\.routing\.keys\b/lms_db@router.keys/g
s/\blms_db\.routing\.pool\b/lms_db@router.pool/g
s/\blms_db\.fleet\.drift\b/lms_db@migrate.drift/g
s/\blms_db\.partitions\b/lms_db@models.partitions/g
s/\blms_db\.fleet\.run\b/lms_db@migrate.run/g
s/\blms_db\.inventory\b/lms_db@shards.inventory/g
s/\blms_db\.reference\b/lms_db@schema.reference/g
s/\blms_db\.shard_add\b/lms_db@shards.add/g
s/\blms_db\.id_topup\b/lms_db@ids.topup/g
s/\bfrom lms_db\.topology import\b/from lms_db@topology.spec import/g
s/^(\s*)import lms_db\.topology(\s|,|$)/\1import lms_db@topology.spec\2/
s/\blms_db\.topology\.([A-Za-z_])/lms_db@topology.spec.\1/g
s/\blms_db\.compare\b/lms_db@schema.compare/g
s/\blms_db\.engines\b/lms_db@topology.engines/g
s/\blms_db\.routing\b/lms_db@router/g
s/\bfrom lms_db\.fleet import\b/from lms_db@migrate import/g
s/^(\s*)import lms_db\.fleet(\s|,|$)/\1import lms_db@migrate\2/
s/\blms_db\.fleet\.([A-Za-z_])/lms_db@migrate.\1/g
s/\blms_db\.views\b/lms_db@schema.views/g
s/\blms_db\.ddl\b/lms_db@schema.ddl/g
s/\bfrom lms_db\.ids import\b/from lms_db@ids.windows import/g
s/^(\s*)import lms_db\.ids(\s|,|$)/\1import lms_db@ids.windows\2/
s/\blms_db\.ids\.([A-Za-z_])/lms_db@ids.windows.\1/g
s/\blms_db\.db\b/lms_db@topology.urls/g
s/(^|[^A-Za-z0-9_.\/])lms_db\/fleet\/alembic_env\.py\b/\1lms_db@\/migrate\/alembic_env.py/g
s/(^|[^A-Za-z0-9_.\/])lms_db\/fleet\/replication\.py\b/\1lms_db@\/migrate\/replication.py/g
s/(^|[^A-Za-z0-9_.\/])lms_db\/topology_template\.py\b/\1lms_db@\/topology\/template.py/g
s/(^|[^A-Za-z0-9_.\/])lms_db\/fleet\/schema_ops\.py\b/\1lms_db@\/migrate\/schema_ops.py/g
s/(^|[^A-Za-z0-9_.\/])lms_db\/routing\/__init__\.py\b/\1lms_db@\/router\/__init__.py/g
s/(^|[^A-Za-z0-9_.\/])lms_db\/routing\/counters\.py\b/\1lms_db@\/ids\/counters.py/g
s/(^|[^A-Za-z0-9_.\/])lms_db\/fleet\/__init__\.py\b/\1lms_db@\/migrate\/__init__.py/g
s/(^|[^A-Za-z0-9_.\/])lms_db\/fleet\/blocking\.py\b/\1lms_db@\/migrate\/blocking.py/g
s/(^|[^A-Za-z0-9_.\/])lms_db\/routing\/router\.py\b/\1lms_db@\/router\/router.py/g
s/(^|[^A-Za-z0-9_.\/])lms_db\/fleet\/autogen\.py\b/\1lms_db@\/migrate\/autogen.py/g
s/(^|[^A-Za-z0-9_.\/])lms_db\/fleet\/migrate\.py\b/\1lms_db@\/migrate\/database.py/g
s/(^|[^A-Za-z0-9_.\/])lms_db\/fleet\/scripts\.py\b/\1lms_db@\/migrate\/scripts.py/g
s/(^|[^A-Za-z0-9_.\/])lms_db\/fleet\/targets\.py\b/\1lms_db@\/migrate\/targets.py/g
s/(^|[^A-Za-z0-9_.\/])lms_db\/fleet\/status\.py\b/\1lms_db@\/migrate\/status.py/g
s/(^|[^A-Za-z0-9_.\/])lms_db\/routing\/keys\.py\b/\1lms_db@\/router\/keys.py/g
s/(^|[^A-Za-z0-9_.\/])lms_db\/routing\/pool\.py\b/\1lms_db@\/router\/pool.py/g
s/(^|[^A-Za-z0-9_.\/])lms_db\/fleet\/drift\.py\b/\1lms_db@\/migrate\/drift.py/g
s/(^|[^A-Za-z0-9_.\/])lms_db\/partitions\.py\b/\1lms_db@\/models\/partitions.py/g
s/(^|[^A-Za-z0-9_.\/])lms_db\/fleet\/run\.py\b/\1lms_db@\/migrate\/run.py/g
s/(^|[^A-Za-z0-9_.\/])lms_db\/inventory\.py\b/\1lms_db@\/shards\/inventory.py/g
s/(^|[^A-Za-z0-9_.\/])lms_db\/reference\.py\b/\1lms_db@\/schema\/reference.py/g
s/(^|[^A-Za-z0-9_.\/])lms_db\/shard_add\.py\b/\1lms_db@\/shards\/add.py/g
s/(^|[^A-Za-z0-9_.\/])lms_db\/id_topup\.py\b/\1lms_db@\/ids\/topup.py/g
s/(^|[^A-Za-z0-9_.\/])lms_db\/topology\.py\b/\1lms_db@\/topology\/spec.py/g
s/(^|[^A-Za-z0-9_.\/])lms_db\/compare\.py\b/\1lms_db@\/schema\/compare.py/g
s/(^|[^A-Za-z0-9_.\/])lms_db\/engines\.py\b/\1lms_db@\/topology\/engines.py/g
s/(^|[^A-Za-z0-9_.\/])lms_db\/views\.py\b/\1lms_db@\/schema\/views.py/g
s/(^|[^A-Za-z0-9_.\/])lms_db\/ddl\.py\b/\1lms_db@\/schema\/ddl.py/g
s/(^|[^A-Za-z0-9_.\/])lms_db\/ids\.py\b/\1lms_db@\/ids\/windows.py/g
s/(^|[^A-Za-z0-9_.\/])lms_db\/db\.py\b/\1lms_db@\/topology\/urls.py/g
s/lms_db@\//lms_db\//g
s/lms_db@/lms_db./g
