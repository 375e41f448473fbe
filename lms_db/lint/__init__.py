"""Schema lint: the mistakes MySQL 8 / MariaDB and sharding punish, with stable rule ids.

Two front ends build one neutral description (:mod:`lms_db.lint.schema`): the SQLAlchemy
models (:func:`lint_models`) and SQL text from ``.sql`` files or the ```` ```sql ````
blocks of Markdown (:func:`lint_paths`, :func:`lint_sql`).  The rules, one module per
family, read only that description:

- LMS1xx partitioning limits (:mod:`~lms_db.lint.partition_rules`)
- LMS2xx index hygiene (:mod:`~lms_db.lint.index_rules`)
- LMS3xx keyspaces and sharding (:mod:`~lms_db.lint.keyspace_rules`)
- LMS4xx MySQL 8 syntax and column references (:mod:`~lms_db.lint.syntax_rules`)

:data:`RULES` lists every rule for the docs; nothing here prints.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from lms_db.errors import UnknownObjectError
from lms_db.lint import (
    column_rules,
    fk_data_rules,
    fk_rules,
    generated_rules,
    index_rules,
    key_rules,
    keyspace_rules,
    partition_data_rules,
    partition_def_rules,
    partition_expr_rules,
    partition_rules,
    syntax_rules,
    target_rules,
)
from lms_db.lint.dev_database import verify_on_server
from lms_db.lint.findings import RULES, SEVERITIES, Finding, Rule, Severity
from lms_db.lint.from_models import document_from_metadata
from lms_db.lint.from_sql import document_from_chunks
from lms_db.lint.schema import Document, TableDef
from lms_db.lint.sources import Chunk, collect_files, read_chunks
from lms_db.lint.targets import TARGETS, Target, get_target

if TYPE_CHECKING:
    import sqlalchemy as sa

log = logging.getLogger(__name__)

Check = Callable[[Document], Iterator[Finding]]

#: Every check, in rule-id order.
CHECKS: tuple[Check, ...] = (
    *partition_rules.CHECKS,
    *partition_expr_rules.CHECKS,
    *partition_def_rules.CHECKS,
    *partition_data_rules.CHECKS,
    *index_rules.CHECKS,
    *key_rules.CHECKS,
    *generated_rules.CHECKS,
    *keyspace_rules.CHECKS,
    *syntax_rules.CHECKS,
    *column_rules.CHECKS,
    *fk_rules.CHECKS,
    *fk_data_rules.CHECKS,
    *target_rules.CHECKS,
)

__all__ = [
    "RULES",
    "SEVERITIES",
    "TARGETS",
    "Document",
    "Finding",
    "Rule",
    "Severity",
    "TableDef",
    "Target",
    "get_target",
    "has_errors",
    "lint_document",
    "lint_models",
    "lint_paths",
    "lint_sql",
    "model_keyspaces",
    "verify_on_server",
]


def lint_models(
    metadata: sa.MetaData | None = None, *, apply_partitions: Iterable[str] = ()
) -> list[Finding]:
    """Lint the SQLAlchemy models as MySQL would create them.

    Partition specs declared but not applied are reported at ``warning`` severity.

    :param metadata: the metadata to lint; ``lms_db.models.metadata`` by default.
    :param apply_partitions: tables whose declared spec is linted as if applied (what
        ``lmsdb schema sql --partition TABLE`` renders); their findings are errors.
    :raises UnknownObjectError: a table in ``apply_partitions`` has no partition spec.
    """
    if metadata is None:
        from lms_db.models import metadata as models_metadata

        metadata = models_metadata
    forced = list(apply_partitions)
    for name in forced:
        table = metadata.tables.get(name)
        if table is None or table.info.get("partition") is None:
            declared = sorted(t.name for t in metadata.tables.values() if t.info.get("partition"))
            raise UnknownObjectError(
                f"no declared partition spec on table {name!r}; tables with one: "
                f"{', '.join(declared) or 'none'}"
            )
    return lint_document(document_from_metadata(metadata, apply=forced))


def lint_paths(
    paths: Iterable[Path],
    *,
    keyspaces: Mapping[str, str] | None = None,
    target: str | Target = "mysql8",
) -> list[Finding]:
    """Lint ``.sql`` files and the sql blocks of ``.md`` files (directories: their files).

    All files form one document: a table created in one may be indexed in another.

    :param paths: files or directories.
    :param keyspaces: table -> keyspace; by default the models' tags (:func:`model_keyspaces`).
    :param target: ``mysql8`` (default) or ``mariadb``: whose rules apply where they differ.
    :raises InputError: a path is missing, unreadable or not ``.sql``/``.md``, or the
        target is unknown; raised before anything is linted.
    """
    server = get_target(target)
    files = collect_files(list(paths))
    chunks = [chunk for path in files for chunk in read_chunks(path)]
    return _lint_chunks(chunks, keyspaces, server)


def lint_sql(
    text: str,
    *,
    source: str = "<sql>",
    keyspaces: Mapping[str, str] | None = None,
    target: str | Target = "mysql8",
) -> list[Finding]:
    """Lint SQL text.

    :param text: one or more statements separated by ``;`` (or a ``DELIMITER``).
    :param source: the name locations use (``source:line``).
    :param keyspaces: table -> keyspace; by default the models' tags.
    :param target: ``mysql8`` (default) or ``mariadb``.
    :raises InputError: unknown target.
    """
    return _lint_chunks([Chunk(source, text, 1)], keyspaces, get_target(target))


def lint_document(doc: Document) -> list[Finding]:
    """Run every rule over ``doc``; findings sorted by location, then rule."""
    findings = {f: None for check in CHECKS for f in check(doc)}  # ordered, deduplicated
    log.debug("lint: %d tables, %d findings", len(doc.tables), len(findings))
    return sorted(findings, key=_sort_key)


def has_errors(findings: Iterable[Finding]) -> bool:
    """True when any finding has ``error`` severity (what fails CI)."""
    return any(f.severity == "error" for f in findings)


def model_keyspaces() -> dict[str, str]:
    """Table name -> keyspace for every table of the models (OLTP and analytics)."""
    from lms_db.models import analytics_metadata, metadata

    tags: dict[str, str] = {}
    for meta in (metadata, analytics_metadata):
        for table in meta.tables.values():
            keyspace = table.info.get("keyspace")
            if keyspace:
                tags[table.name] = str(keyspace)
    return tags


def _lint_chunks(
    chunks: list[Chunk], keyspaces: Mapping[str, str] | None, target: Target
) -> list[Finding]:
    tags = model_keyspaces() if keyspaces is None else keyspaces
    return lint_document(document_from_chunks(chunks, tags, target))


def _sort_key(f: Finding) -> tuple[str, int, str, str, str]:
    path, _, line = f.location.rpartition(":")
    if not line.isdigit():
        path, line = f.location, "0"
    return (path, int(line), f.rule, f.table, f.message)
