"""The run manifest and its per-chunk parts: what a run archived, in the store itself.

Since format 2 each finished chunk has its own small **part** object, written once when
the chunk is finished (``PREFIX/TABLE/SHARD/RUN/parts/chunk-000001.json``)::

    {"format": "lmsdb-archive-part/1", "run": "20261202T050000Z-1a2b3c", "shard": "shard-0",
     "chunk": 1, "key": ".../chunk-000001.jsonl.zst", "lo": 17, "hi": 940,
     "rows": {"enrollments": 500, "lesson_progress": 4000, ...}, "bytes": 81234,
     "sha256": "<hex of the object>", "digest": "<sha256 of the row lines>",
     "state": "archived", "keys": [<shard-key values in the chunk: user ids>], "at": "..."}

and the **run manifest** (``.../RUN/manifest.json``) is written once, when the shard's run
completes, listing the parts in chunk order::

    {"format": "lmsdb-archive-manifest/2", "run": "...", "table": "enrollments",
     "tables": [...], "shard": "shard-0", "bucket": "...", "prefix": "...",
     "schema_revision": "0007_...", "storage_class": "GLACIER", "encryption": "AES256",
     "filter": {...}, "state": "complete", "chunks": 42,
     "parts": [".../parts/chunk-000001.json", ...]}

So no object (and no journal payload) grows with the run: each chunk costs one small PUT.
A part is the truth about its chunk (``forget`` rewrites only the part); an unfinished run
(no manifest yet) is read by listing its ``parts/``.

Format 1 manifests (``lmsdb-archive-manifest/1``: every chunk inline, rewritten after each
chunk, as older lmsdb wrote them) still load, and so do journal payloads holding such a
chunk list.  A chunk's ``state`` is ``archived`` (rows deleted), ``copied``
(``--no-delete``), ``superseded`` (its rows changed before the delete: object removed, rows
left in place) or ``forgotten`` (emptied by ``forget``).  Restore reads only
``archived``/``copied`` chunks, so it never re-inserts a row twice.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from lms_db.archive.codec import ArchiveFormatError
from lms_db.errors import OperationError

if TYPE_CHECKING:
    from lms_db.archive.s3 import Encryption, Store

#: Format 1: every chunk inline (still read).
MANIFEST_FORMAT_INLINE = "lmsdb-archive-manifest/1"
#: Format 2: the manifest lists per-chunk part objects.
MANIFEST_FORMAT = "lmsdb-archive-manifest/2"
MANIFEST_FORMATS = (MANIFEST_FORMAT_INLINE, MANIFEST_FORMAT)
PART_FORMAT = "lmsdb-archive-part/1"
#: Chunk states whose objects hold rows to restore.
LIVE_STATES = ("archived", "copied")
#: Chunk states whose rows left the table (``moved``: into the archive table).
GONE_STATES = (*LIVE_STATES, "moved")


def run_prefix(prefix: str, table: str, shard: str, run: str) -> str:
    """``PREFIX/TABLE/SHARD/RUN/``: where one run's objects for one shard live."""
    head = f"{prefix.strip('/')}/" if prefix.strip("/") else ""
    return f"{head}{table}/{shard}/{run}/"


def chunk_key(prefix: str, table: str, shard: str, run: str, chunk: int, version: int = 1) -> str:
    """The deterministic key of a chunk (``version`` > 1: rewritten by ``forget``)."""
    suffix = "" if version == 1 else f".v{version}"
    return f"{run_prefix(prefix, table, shard, run)}chunk-{chunk:06d}{suffix}.jsonl.zst"


def manifest_key(prefix: str, table: str, shard: str, run: str) -> str:
    return f"{run_prefix(prefix, table, shard, run)}manifest.json"


def parts_prefix(prefix: str, table: str, shard: str, run: str) -> str:
    return f"{run_prefix(prefix, table, shard, run)}parts/"


def part_key(prefix: str, table: str, shard: str, run: str, chunk: int) -> str:
    """The key of chunk ``chunk``'s part object (the same on every write of it)."""
    return f"{parts_prefix(prefix, table, shard, run)}chunk-{chunk:06d}.json"


def _dumps(data: dict[str, Any]) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), default=str).encode("utf-8")


def _loads(blob: bytes, where: str, formats: tuple[str, ...]) -> dict[str, Any]:
    try:
        data = json.loads(blob)
    except ValueError as exc:
        raise ArchiveFormatError(f"{where}: not JSON") from exc
    if not isinstance(data, dict) or data.get("format") not in formats:
        raise ArchiveFormatError(f"{where}: not an {' or '.join(formats)} object")
    return data


def encode_part(header: dict[str, Any], record: dict[str, Any]) -> bytes:
    """A chunk record as its part object."""
    return _dumps({"format": PART_FORMAT, "run": header["run"], "shard": header["shard"], **record})


@dataclass
class Manifest:
    """A run's header (``data``, stored as JSON) and its chunk records.

    ``inline``: format 1, the records live in ``data["chunks"]`` and the whole manifest is
    rewritten when one changes; otherwise each record is its own part object.
    """

    data: dict[str, Any]
    records: list[dict[str, Any]] = field(default_factory=list)
    inline: bool = False

    @classmethod
    def of_header(cls, header: dict[str, Any]) -> Manifest:
        """From a journal payload's header; a pre-format-2 payload carries its chunks."""
        if "chunks" in header and isinstance(header["chunks"], list):
            return cls(header, header["chunks"], inline=True)
        return cls(header)

    @property
    def run(self) -> str:
        return str(self.data["run"])

    @property
    def shard(self) -> str:
        return str(self.data["shard"])

    @property
    def table(self) -> str:
        return str(self.data["table"])

    @property
    def chunks(self) -> list[dict[str, Any]]:
        return self.records

    def _where(self) -> tuple[str, str, str, str]:
        return (self.data["prefix"], self.table, self.shard, self.run)

    @property
    def key(self) -> str:
        return manifest_key(*self._where())

    def part_key(self, chunk: int) -> str:
        return part_key(*self._where(), chunk)

    @property
    def parts_prefix(self) -> str:
        return parts_prefix(*self._where())

    def live_chunks(self) -> list[dict[str, Any]]:
        return [c for c in self.records if c["state"] in LIVE_STATES and c.get("key")]

    def totals(self) -> dict[str, int]:
        rows: dict[str, int] = {}
        for chunk in self.live_chunks():
            for table, count in chunk["rows"].items():
                rows[table] = rows.get(table, 0) + int(count)
        return rows

    def total_bytes(self) -> int:
        return sum(int(c["bytes"]) for c in self.live_chunks())

    def encode(self, part_keys: list[str] | None = None) -> bytes:
        """The manifest object: inline records (format 1), or the list of parts."""
        if self.inline:
            return _dumps({**self.data, "chunks": self.records})
        header = {k: v for k, v in self.data.items() if k != "chunks"}
        keys = (
            part_keys
            if part_keys is not None
            else [self.part_key(int(c["chunk"])) for c in self.records]
        )
        return _dumps({**header, "format": MANIFEST_FORMAT, "chunks": len(keys), "parts": keys})

    def save_record(self, store: Store, record: dict[str, Any], encryption: Encryption) -> None:
        """Store one changed chunk record: its part, or (format 1) the whole manifest."""
        if self.inline:
            store.put(self.key, self.encode(), encryption=encryption)
        else:
            store.put(
                self.part_key(int(record["chunk"])),
                encode_part(self.data, record),
                encryption=encryption,
            )

    @classmethod
    def decode(cls, blob: bytes, where: str) -> Manifest:
        """A stored manifest; format 2's records are loaded by :func:`load_manifest`."""
        data = _loads(blob, where + ": the manifest", MANIFEST_FORMATS)
        if data["format"] == MANIFEST_FORMAT_INLINE:
            return cls(data, data.setdefault("chunks", []), inline=True)
        return cls(data)


def decode_part(blob: bytes, where: str) -> dict[str, Any]:
    record = _loads(blob, where, (PART_FORMAT,))
    for name in ("format", "run", "shard"):
        record.pop(name, None)
    return record


def load_manifest(store: Store, header: dict[str, Any]) -> Manifest:
    """A shard's run with every chunk record, from the store (journal ``header`` locates it).

    The stored manifest if there is one (format 2: its parts are read); otherwise a
    pre-format-2 journal copy of the chunks, or else the parts found under ``parts/`` (a run
    not complete yet).

    :raises OperationError: a part the manifest lists is missing.
    """
    located = Manifest.of_header(header)
    if store.head(located.key) is not None:
        manifest = Manifest.decode(store.get(located.key), store.url(located.key))
        if manifest.inline:
            return manifest
        keys = [str(k) for k in manifest.data.get("parts", [])]
    elif located.inline:
        return located
    else:
        manifest = Manifest({k: v for k, v in header.items() if k != "chunks"})
        keys = sorted(k for k in store.keys(located.parts_prefix) if k.endswith(".json"))
    for key in keys:
        if store.head(key) is None:
            raise OperationError(f"{store.url(key)}: a part the manifest lists is missing")
        manifest.records.append(decode_part(store.get(key), store.url(key)))
    manifest.records.sort(key=lambda r: int(r["chunk"]))
    return manifest


# -- running totals (the journal payload keeps these instead of a chunk list) ------------


def empty_totals() -> dict[str, Any]:
    return {"chunks": 0, "rows": {}, "bytes": 0, "superseded_rows": 0, "finished": 0}


def add_record(totals: dict[str, Any], record: dict[str, Any], parent: str) -> None:
    """Count one finished chunk into ``totals``."""
    totals["finished"] += 1
    if record["state"] == "superseded":
        totals["superseded_rows"] += int(record.get("superseded", 0)) or int(
            record["rows"].get(parent, 0)
        )
        return
    if record["state"] not in GONE_STATES:
        return
    totals["chunks"] += 1
    totals["bytes"] += int(record.get("bytes") or 0)
    for table, count in record["rows"].items():
        totals["rows"][table] = totals["rows"].get(table, 0) + int(count)


def payload_totals(payload: dict[str, Any]) -> dict[str, Any]:
    """A journal payload's totals: kept running since format 2, summed from an older
    payload's chunk list otherwise."""
    if "totals" in payload:
        totals: dict[str, Any] = payload["totals"]
        return totals
    totals = empty_totals()
    for record in payload["manifest"].get("chunks", []):
        add_record(totals, record, payload["table"])
    return totals
