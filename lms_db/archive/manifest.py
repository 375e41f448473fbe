"""The run manifest: one JSON object per (run, shard) listing every chunk object.

Stored at ``PREFIX/TABLE/SHARD/RUN/manifest.json`` beside its chunks and rewritten after
each chunk, so the store alone says what a run archived::

    {"format": "lmsdb-archive-manifest/1", "run": "20261202T050000Z-1a2b3c",
     "table": "enrollments", "tables": ["enrollments", "lesson_progress", "quiz_attempts"],
     "shard": "shard-0", "bucket": "...", "prefix": "...", "schema_revision": "0007_...",
     "storage_class": "GLACIER", "encryption": "AES256", "filter": {...},
     "state": "running" | "complete",
     "chunks": [{"chunk": 1, "key": ".../chunk-000001.jsonl.zst", "lo": 17, "hi": 940,
                 "rows": {"enrollments": 500, "lesson_progress": 4000, ...},
                 "bytes": 81234, "sha256": "<hex of the object>",
                 "digest": "<sha256 of the row lines>", "state": "archived",
                 "keys": [<shard-key values in the chunk: user ids>]}]}

A chunk's ``state`` is ``archived`` (rows deleted), ``copied`` (``--no-delete``) or
``superseded`` (its rows changed before the delete: object removed, rows left in place).
Restore reads only ``archived``/``copied`` chunks, so it never re-inserts a row twice.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from lms_db.archive.codec import ArchiveFormatError

MANIFEST_FORMAT = "lmsdb-archive-manifest/1"
#: Chunk states whose objects hold rows to restore.
LIVE_STATES = ("archived", "copied")


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


@dataclass
class Manifest:
    """A manifest as a mutable dict with typed accessors (it is stored as JSON)."""

    data: dict[str, Any]

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
        chunks: list[dict[str, Any]] = self.data.setdefault("chunks", [])
        return chunks

    @property
    def key(self) -> str:
        return manifest_key(self.data["prefix"], self.table, self.shard, self.run)

    def live_chunks(self) -> list[dict[str, Any]]:
        return [c for c in self.chunks if c["state"] in LIVE_STATES and c.get("key")]

    def totals(self) -> dict[str, int]:
        rows: dict[str, int] = {}
        for chunk in self.live_chunks():
            for table, count in chunk["rows"].items():
                rows[table] = rows.get(table, 0) + int(count)
        return rows

    def total_bytes(self) -> int:
        return sum(int(c["bytes"]) for c in self.live_chunks())

    def encode(self) -> bytes:
        # Compact: with ``indent`` json falls back to its pure-Python encoder, and the
        # manifest (every chunk with its user ids) is rewritten after each chunk.
        return json.dumps(self.data, sort_keys=True, separators=(",", ":"), default=str).encode(
            "utf-8"
        )

    @classmethod
    def decode(cls, blob: bytes, where: str) -> Manifest:
        try:
            data = json.loads(blob)
        except ValueError as exc:
            raise ArchiveFormatError(f"{where}: the manifest is not JSON") from exc
        if not isinstance(data, dict) or data.get("format") != MANIFEST_FORMAT:
            raise ArchiveFormatError(f"{where}: not an {MANIFEST_FORMAT} manifest")
        return cls(data)
