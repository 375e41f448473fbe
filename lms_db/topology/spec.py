"""The shard topology file: TOML in, frozen values out, every problem named.

A topology file (``shards/<env>.toml``) lists the catalog database, the optional analytics
database and every shard's primary, replicas and initial key ranges::

    [catalog]
    url = "mysql+pymysql://lms:${LMS_DB_PASSWORD}@127.0.0.1:3306/lmsdb_catalog"

    [[shards]]
    name = "shard-0"
    primary = "mysql+pymysql://lms:${LMS_DB_PASSWORD}@127.0.0.1:3306/lms_shard_0"
    replicas = []
    ranges = { user = [0, 1000000], course = [0, 10000] }    # [lo, hi)

Passwords come from environment variables or files the user names (``${VAR}``,
``${file:/path}``), never from the file itself: :mod:`lms_db.topology.urls` parses every URL.
The ranges only seed the catalog: once seeded, the catalog is the truth.
Every validation problem is reported as ``<file>: <field>: <problem>``.
"""

from __future__ import annotations

import logging
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from lms_db.errors import ConfigError, TopologyInvalid, UnknownObjectError
from lms_db.topology.urls import SUPPORTED_DRIVERS, DatabaseRef, location_key, parse_database_url

log = logging.getLogger(__name__)

#: Keyspaces whose rows are spread over shards by key range.
SHARDED_KEYSPACES = ("user", "course")
__all__ = [
    "SHARDED_KEYSPACES",
    "SUPPORTED_DRIVERS",
    "DatabaseRef",
    "ShardSpec",
    "Topology",
    "load_topology",
]
_TOP_KEYS = ("catalog", "analytics", "shards", "archive")
#: Keys of the optional ``[archive]`` section (object store defaults for ``lmsdb archive``).
ARCHIVE_KEYS = ("endpoint_url", "region", "bucket", "prefix", "storage_class", "sse", "kms_key_id")
_DATABASE_KEYS = ("url",)
_SHARD_KEYS = ("name", "primary", "replicas", "ranges")
_SHARD_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_MAX_KEY = 2**63 - 1


@dataclass(frozen=True)
class ShardSpec:
    """One shard: where it lives and the key ranges it is seeded with.

    :param name: unique shard name (``shard-0``).
    :param primary: the database every write goes to.
    :param replicas: read-only copies, never written by lmsdb.
    :param ranges: keyspace -> ``(lo, hi)``, the half-open range ``[lo, hi)``.
    """

    name: str
    primary: DatabaseRef
    replicas: tuple[DatabaseRef, ...] = ()
    ranges: Mapping[str, tuple[int, int]] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True)
class Topology:
    """A validated topology file.

    :param path: the file it was loaded from.
    :param catalog: the catalog database (live shard map and journal).
    :param analytics: the analytics database, if any.
    :param shards: the shards in file order.
    """

    path: Path
    catalog: DatabaseRef
    analytics: DatabaseRef | None
    shards: tuple[ShardSpec, ...]
    archive: Mapping[str, str] = field(default_factory=dict)

    @property
    def shard_names(self) -> tuple[str, ...]:
        """Shard names in file order."""
        return tuple(s.name for s in self.shards)

    def shard(self, name: str) -> ShardSpec:
        """The shard called ``name``.

        :param name: a shard name.
        :raises UnknownObjectError: no shard has that name.
        """
        for spec in self.shards:
            if spec.name == name:
                return spec
        known = ", ".join(self.shard_names)
        raise UnknownObjectError(f"{self.path}: no shard named {name!r} (known: {known})")

    def ranges(self, keyspace: str) -> list[tuple[int, int, str]]:
        """The seed ranges of ``keyspace`` as ``(lo, hi, shard)``, sorted by ``lo``.

        :param keyspace: ``user`` or ``course``.
        """
        found = [(*s.ranges[keyspace], s.name) for s in self.shards if keyspace in s.ranges]
        return sorted(found)


def load_topology(path: str | Path, *, environ: Mapping[str, str] | None = None) -> Topology:
    """Read, validate and return a topology file; nothing is connected to.

    :param path: the TOML file; relative SQLite paths in it resolve against its directory.
    :param environ: variables to expand ``${VAR}`` with instead of the process environment.
    :raises ConfigError: the file is unreadable or not TOML.
    :raises TopologyInvalid: the file has problems (a :class:`ConfigError`; the message
        names file, field and the first problem, ``problems`` lists all).
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise ConfigError(f"{path}: cannot read the topology file: {reason}") from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: {_toml_error(exc)}") from exc
    return _Loader(path, environ).topology(data)


def _toml_error(exc: tomllib.TOMLDecodeError) -> str:
    message = str(exc)
    match = re.search(r"\s*\(at (line \d+, column \d+|end of document)\)$", message)
    if match is None:
        return f"invalid TOML: {message}"
    return f"{match.group(1)}: invalid TOML: {message[: match.start()]}"


class _Loader:
    """Builds a :class:`Topology` while collecting every problem it meets."""

    def __init__(self, path: Path, environ: Mapping[str, str] | None) -> None:
        self.path = path
        self.environ = environ
        self.problems: list[str] = []

    def problem(self, where: str, text: str) -> None:
        self.problems.append(f"{self.path}: {where}: {text}")

    def topology(self, data: dict[str, Any]) -> Topology:
        self.unknown_keys(data, _TOP_KEYS, "")
        catalog = self.database_section(data, "catalog", required=True)
        analytics = self.database_section(data, "analytics", required=False)
        shards = self.shards(data.get("shards"))
        archive = self.archive_section(data.get("archive"))
        self.check_distinct_databases(catalog, analytics, shards)
        for keyspace in SHARDED_KEYSPACES:
            self.check_tiling(keyspace, shards)
        if self.problems or catalog is None:
            raise TopologyInvalid(self.problems)
        specs = tuple(spec for _, spec in shards)
        return Topology(
            path=self.path,
            catalog=catalog,
            analytics=analytics,
            shards=specs,
            archive=MappingProxyType(archive),
        )

    def archive_section(self, raw: Any) -> dict[str, str]:
        """``[archive]``: object-store defaults; credentials are refused (AWS chain only)."""
        if raw is None:
            return {}
        if not isinstance(raw, dict):
            self.problem("archive", 'must be a table: [archive] with bucket = "..."')
            return {}
        out: dict[str, str] = {}
        for key, value in raw.items():
            if any(
                word in key.lower()
                for word in ("secret", "access_key", "token", "password", "credential")
            ):
                self.problem(
                    f"archive.{key}",
                    "credentials never go in the topology file; "
                    "use the AWS environment, AWS_PROFILE or an instance role",
                )
            elif key not in ARCHIVE_KEYS:
                self.problem(
                    f"archive.{key}", f"unknown key; allowed here: {', '.join(ARCHIVE_KEYS)}"
                )
            elif not isinstance(value, str) or not value:
                self.problem(f"archive.{key}", "must be a non-empty string")
            else:
                out[key] = value
        return out

    def unknown_keys(self, table: Mapping[str, Any], allowed: tuple[str, ...], where: str) -> None:
        for key in table:
            if key not in allowed:
                field_name = f"{where}.{key}" if where else key
                self.problem(field_name, f"unknown key; allowed here: {', '.join(allowed)}")

    def database_section(self, data: dict[str, Any], key: str, *, required: bool) -> Any:
        section = data.get(key)
        if section is None:
            if required:
                self.problem(key, f'missing; add a [{key}] table with url = "..."')
            return None
        if not isinstance(section, dict):
            self.problem(key, f'must be a table: [{key}] with url = "..."')
            return None
        self.unknown_keys(section, _DATABASE_KEYS, key)
        if "url" not in section:
            self.problem(f"{key}.url", 'missing; add url = "driver://user@host:port/database"')
            return None
        return self.database(section["url"], f"{key}.url")

    def shards(self, raw: Any) -> list[tuple[int, ShardSpec]]:
        if raw is None or raw == []:
            self.problem("shards", "no shards; add at least one [[shards]] table")
            return []
        if not isinstance(raw, list) or not all(isinstance(s, dict) for s in raw):
            self.problem("shards", "must be an array of tables: [[shards]]")
            return []
        found: list[tuple[int, ShardSpec]] = []
        first_index: dict[str, int] = {}
        for index, table in enumerate(raw):
            where = f"shards[{index}]"
            self.unknown_keys(table, _SHARD_KEYS, where)
            name = table.get("name")
            if not isinstance(name, str) or not _SHARD_NAME.fullmatch(name):
                self.problem(
                    f"{where}.name",
                    "missing or invalid; use 1-64 letters, digits, '.', '_' or '-'",
                )
                name = None
            elif name in first_index:
                self.problem(
                    f"{where}.name",
                    f"duplicate shard name {name!r} (also shards[{first_index[name]}])",
                )
                name = None
            else:
                first_index[name] = index
            primary = None
            if "primary" not in table:
                self.problem(f"{where}.primary", "missing; give the primary's URL")
            else:
                primary = self.database(table["primary"], f"{where}.primary")
            replicas = self.replicas(table.get("replicas", []), f"{where}.replicas")
            ranges = self.ranges(table.get("ranges", {}), f"{where}.ranges")
            if name is not None and primary is not None and replicas is not None:
                spec = ShardSpec(name, primary, replicas, MappingProxyType(ranges))
                found.append((index, spec))
        return found

    def replicas(self, raw: Any, where: str) -> tuple[DatabaseRef, ...] | None:
        if not isinstance(raw, list):
            self.problem(where, 'must be an array of URLs: replicas = ["..."]')
            return None
        refs = [self.database(url, f"{where}[{i}]") for i, url in enumerate(raw)]
        return None if any(r is None for r in refs) else tuple(r for r in refs if r is not None)

    def ranges(self, raw: Any, where: str) -> dict[str, tuple[int, int]]:
        if not isinstance(raw, dict):
            self.problem(where, "must be a table: ranges = { user = [lo, hi], course = [lo, hi] }")
            return {}
        found: dict[str, tuple[int, int]] = {}
        for keyspace, bounds in raw.items():
            here = f"{where}.{keyspace}"
            if keyspace not in SHARDED_KEYSPACES:
                self.problem(
                    here,
                    f"keyspace {keyspace!r} is not range-sharded; "
                    f"ranges are for {' or '.join(SHARDED_KEYSPACES)}",
                )
                continue
            valid = (
                isinstance(bounds, list)
                and len(bounds) == 2
                and all(isinstance(b, int) and not isinstance(b, bool) for b in bounds)
            )
            if not valid:
                self.problem(here, "must be two integers [lo, hi] meaning lo <= key < hi")
                continue
            lo, hi = bounds
            if not 0 <= lo < hi <= _MAX_KEY:
                self.problem(here, f"[{lo}, {hi}) is empty or negative; need 0 <= lo < hi")
                continue
            found[keyspace] = (lo, hi)
        return found

    def database(self, raw: Any, where: str) -> DatabaseRef | None:
        try:
            return parse_database_url(
                raw,
                field=where,
                where=f"{self.path}: {where}",
                base_dir=self.path.parent,
                environ=self.environ,
            )
        except ConfigError as exc:
            self.problems.append(exc.message)
            return None

    def check_distinct_databases(
        self,
        catalog: DatabaseRef | None,
        analytics: DatabaseRef | None,
        shards: list[tuple[int, ShardSpec]],
    ) -> None:
        """Every shard, replica, the catalog and analytics need a database of their own (the
        analytics history keeps its own ``alembic_version``; the catalog is not a shard)."""
        seen: dict[tuple[Any, ...], str] = {}
        refs = [
            catalog,
            analytics,
            *(r for _, spec in shards for r in (spec.primary, *spec.replicas)),
        ]
        for ref in refs:
            if ref is None:
                continue
            key = location_key(ref.url)
            if key in seen:
                self.problem(
                    ref.field,
                    f"same database as {seen[key]}; the catalog, analytics and every shard "
                    "and replica need one of their own",
                )
            else:
                seen[key] = ref.field

    def check_tiling(self, keyspace: str, shards: list[tuple[int, ShardSpec]]) -> None:
        """Ranges of one keyspace must tile ``[0, max_hi)``: no overlap, no gap."""
        spans = sorted(
            (spec.ranges[keyspace], spec.name, f"shards[{index}].ranges.{keyspace}")
            for index, spec in shards
            if keyspace in spec.ranges
        )
        if not spans:
            return
        (lo, hi), name, where = spans[0]
        if lo != 0:
            self.problem(where, f"gap: no shard covers [0, {lo}); {keyspace} ranges start at 0")
        end, end_name = hi, name
        for (lo, hi), name, where in spans[1:]:
            if lo < end:
                self.problem(
                    where,
                    f"range [{lo}, {hi}) of {name} overlaps {end_name}, which covers up to {end}",
                )
            elif lo > end:
                self.problem(
                    where,
                    f"gap: no shard covers [{end}, {lo}) between {end_name} and {name}",
                )
            if hi > end:
                end, end_name = hi, name
