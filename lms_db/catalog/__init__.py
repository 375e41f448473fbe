"""The catalog database: live shard map, id windows and the journal of operations.

Layout: :mod:`~lms_db.catalog.schema` (tables on their own ``MetaData``,
:func:`ensure_catalog`), :mod:`~lms_db.catalog.shard_map` (seed, read, version) and
:mod:`~lms_db.catalog.journal` (journal entries, id windows).

Example::

    engine = engine_for(topology.catalog)
    seed_from_topology(engine, topology)      # first time only; then the catalog is the truth
    shard_map = read_shard_map(engine)
    shard_map.find("user", 1_234_567).shard   # 'shard-1'
"""

from __future__ import annotations

from lms_db.catalog.journal import (
    IdWindow,
    JournalEntry,
    advance_journal_entry,
    close_journal_entry,
    default_holder,
    grant_id_window,
    holder_identity,
    latest_entry,
    open_entries,
    open_journal_entry,
    process_start,
    read_id_windows,
    read_journal_entry,
)
from lms_db.catalog.schema import (
    CATALOG_SCHEMA_VERSION,
    JOURNAL_STATES,
    RANGE_STATES,
    catalog_metadata,
    catalog_schema,
    ensure_catalog,
    id_windows,
    journal,
    map_version,
    shard_ranges,
    shards,
)
from lms_db.catalog.shard_map import (
    RangeAssignment,
    ShardMap,
    bump_map_version,
    lock_map,
    read_map_version,
    read_shard_map,
    seed_from_topology,
)
from lms_db.errors import CatalogError

__all__ = [
    "CATALOG_SCHEMA_VERSION",
    "JOURNAL_STATES",
    "RANGE_STATES",
    "CatalogError",
    "IdWindow",
    "JournalEntry",
    "RangeAssignment",
    "ShardMap",
    "advance_journal_entry",
    "bump_map_version",
    "catalog_metadata",
    "catalog_schema",
    "close_journal_entry",
    "default_holder",
    "ensure_catalog",
    "grant_id_window",
    "holder_identity",
    "id_windows",
    "journal",
    "latest_entry",
    "lock_map",
    "map_version",
    "open_entries",
    "open_journal_entry",
    "process_start",
    "read_id_windows",
    "read_journal_entry",
    "read_map_version",
    "read_shard_map",
    "seed_from_topology",
    "shard_ranges",
    "shards",
]
