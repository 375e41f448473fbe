"""The whole exception tree of lmsdb.

Every error the library raises is an ``LmsDbError``; the CLI maps them to exit codes
in one place and prints one line.  Our exception hierarchy::

    LmsDbError
    ├── InputError (exit 2: bad input, nothing was changed)
    │   ├── ConfigError            bad settings or topology file
    │   │   ├── TopologyInvalid    a topology file's problems, each naming file and field
    │   │   ├── LiteralPassword    a database URL holds a password in clear
    │   │   ├── TopologyMismatch   the topology and the catalog disagree about a shard
    │   │   └── CatalogTooNew      the catalog was upgraded by a newer lmsdb
    │   ├── UnknownObjectError     unknown table, shard, keyspace, revision, dialect
    │   ├── ConnectionFailed       unreachable server or wrong credentials
    │   ├── AlreadyLoaded          sample data is there already (sample load)
    │   └── ReplicaWritable        a "replica" URL points at a writable server
    └── OperationError (exit 1: a step failed or a check found a problem)
        ├── LintFailed             lint findings at error severity
        ├── DriftDetected          a live database differs from the models
        ├── MigrationFailed        a revision failed; the database stays at its last good one
        ├── LockTimeout            another run holds a database's migration lock
        ├── ShardBusy              an open move/archive journal entry holds the shard
        ├── ReplicaTimeout         a replica did not reach the primary's revision in time
        ├── FleetFailed            at least one database of a fleet run failed
        ├── CatalogError           the catalog database failed a read or a write
        ├── RangeFrozen            a write to a frozen key range (retryable: try again soon)
        ├── IdWindowExhausted      no id window left for a shard and table
        ├── ServerLost             a server failed or went away after work began
        ├── JournalHeld            a journal entry's holder is alive (release refused)
        ├── Interrupted            SIGINT/SIGTERM: stopped at a safe point (exit 130)
        ├── MapMismatch            the shard map no longer shows what a move expects
        ├── FreezeTimeout          a move's freeze waited too long for open transactions
        └── VerifyMismatch         a move's verify found chunks that differ (no switch)

Exit codes (every command): 0 ok; 2 bad input or a server unreachable before any change
(nothing was changed); 1 a failure after work began, or a check that found problems; 130
interrupted (stopped at a safe point, what was done is reported).
"""

from __future__ import annotations

from typing import Any


class LmsDbError(Exception):
    """Root of every lmsdb error.

    :param message: one line saying what is wrong and how to fix it.
    """

    exit_code: int = 1
    code: str = "lmsdb_error"
    retryable: bool = False

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        #: JSON-ready data for ``--json`` (a fleet run's per-shard results...).
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        """The error for ``--json``: code, message, retryable, exit code and any details."""
        return {
            **(self.details or {}),
            "code": self.code,
            "message": self.message,
            "retryable": self.retryable,
            "exit_code": self.exit_code,
        }


class InputError(LmsDbError):
    """Bad input: raised before anything changes (exit code 2)."""

    exit_code = 2
    code = "input_error"


class ConfigError(InputError):
    """A settings or topology file is invalid; the message names file, field and problem."""

    code = "config_error"


class UnknownObjectError(InputError):
    """A name that does not exist: table, shard, keyspace, revision or dialect."""

    code = "unknown_object"


class ConnectionFailed(InputError):
    """A server could not be reached or refused the credentials."""

    code = "connection_failed"


class OperationError(LmsDbError):
    """A step failed, or a check found a problem (exit code 1)."""

    exit_code = 1
    code = "operation_error"


class LintFailed(OperationError):
    """Lint found problems at error severity."""

    code = "lint_failed"


class DriftDetected(OperationError):
    """A live database differs from the models.

    :param diffs: per-database list of readable differences.
    """

    code = "drift_detected"

    def __init__(
        self,
        message: str,
        diffs: dict[str, list[str]] | None = None,
        *,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message, details=details)
        self.diffs = diffs or {}


class ReplicaWritable(InputError):
    """A database listed as a replica accepts writes: the topology probably lists a primary."""

    code = "replica_writable"


class MigrationFailed(OperationError):
    """A revision failed; the database stays at its last good revision.

    :param revision: the revision the database is at now (``None``: no revision applied).
    :param failed_revision: the revision that failed.
    """

    code = "migration_failed"
    retryable = True

    def __init__(
        self, message: str, *, revision: str | None = None, failed_revision: str | None = None
    ) -> None:
        super().__init__(message)
        self.revision = revision
        self.failed_revision = failed_revision


class LockTimeout(OperationError):
    """Another run held a database's migration lock for longer than the lock timeout."""

    code = "lock_timeout"
    retryable = True


class ShardBusy(OperationError):
    """An open move or archive journal entry holds the shard; it is not migrated meanwhile."""

    code = "shard_busy"
    retryable = True


class ReplicaTimeout(OperationError):
    """A replica did not report the primary's revision within the replica timeout."""

    code = "replica_timeout"
    retryable = True


class FleetFailed(OperationError):
    """At least one database of a fleet run failed; ``results`` holds every shard's outcome.

    :param results: the per-shard results of the run.
    """

    code = "fleet_failed"

    def __init__(
        self, message: str, results: Any = None, *, details: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message, details=details)
        self.results = results


class RangeFrozen(OperationError):
    """A write went to a key range whose state is ``frozen`` (a move is switching it).

    Retryable: the freeze lasts seconds; retry after ``retry_after`` seconds, through the
    Router, which will then route the key to its new owner.

    :param keyspace: the keyspace of the key.
    :param key: the key written.
    :param shard: the shard that owns the frozen range.
    :param retry_after: a suggested pause before the retry, in seconds.
    """

    code = "range_frozen"
    retryable = True

    def __init__(
        self, message: str, *, keyspace: str, key: int, shard: str, retry_after: float = 1.0
    ) -> None:
        super().__init__(message)
        self.keyspace = keyspace
        self.key = key
        self.shard = shard
        self.retry_after = retry_after

    def to_dict(self) -> dict[str, Any]:
        return {
            **super().to_dict(),
            "keyspace": self.keyspace,
            "key": self.key,
            "shard": self.shard,
            "retry_after": self.retry_after,
        }


class IdWindowExhausted(OperationError):
    """A shard cannot be given ids for a table: no free id window is left where it may draw.

    For ``users``/``courses`` the window must lie inside a key range the shard owns; move or
    split a range to it, or place new rows on another shard.
    """

    code = "id_window_exhausted"


class TopologyInvalid(ConfigError):
    """A topology file has problems; ``message`` shows the first, ``problems`` all of them.

    :param problems: every problem as ``<file>: <field>: <problem>``, in file order.
    """

    code = "topology_invalid"

    def __init__(self, problems: list[str]) -> None:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        super().__init__(problems[0] + more)
        self.problems = tuple(problems)


class CatalogError(OperationError):
    """The catalog database failed a read or a write; the message names it (masked URL)."""

    code = "catalog_error"


class ServerLost(OperationError):
    """A server failed or went away after work began; the message names the shard, its masked
    URL, what was done and how to resume (usually: rerun once the server is back)."""

    code = "server_lost"
    retryable = True


class JournalHeld(OperationError):
    """A journal entry's holder process is alive: releasing it would let two runs collide."""

    code = "journal_held"


class Interrupted(OperationError):
    """SIGINT or SIGTERM: the run stopped at a safe point (exit 130, like a shell)."""

    exit_code = 130
    code = "interrupted"
    retryable = True

    def __init__(
        self,
        message: str,
        *,
        revision: str | None = None,
        applied: tuple[str, ...] = (),
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message, details=details)
        #: Where a database stopped (a migration: its revision now) and what was done.
        self.revision = revision
        self.applied = applied


class MapMismatch(OperationError):
    """The shard map no longer shows what a move expects: it was changed outside the move."""

    code = "map_mismatch"


class FreezeTimeout(OperationError):
    """A move's freeze waited longer than its timeout for open transactions on the source.

    The freeze was undone (the range serves writes again); ``--resume`` tries again.
    """

    code = "freeze_timeout"
    retryable = True


class VerifyMismatch(OperationError):
    """A move's verify found chunks whose row count or digest differ; nothing was switched.

    :param chunks: readable names of the chunks that differ.
    """

    code = "verify_mismatch"

    def __init__(self, message: str, chunks: list[str] | None = None) -> None:
        super().__init__(message)
        self.chunks = chunks or []

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "chunks": self.chunks}


class LiteralPassword(ConfigError):
    """A database URL holds a password in clear: only ``${VAR}`` or ``${file:PATH}``."""

    code = "literal_password"


class TopologyMismatch(ConfigError):
    """The topology points a shard at another database than the one the catalog recorded,
    or a shard database carries another shard's (or fleet's) identity."""

    code = "topology_mismatch"


class CatalogTooNew(ConfigError):
    """The catalog's schema version is newer than this lmsdb understands."""

    code = "catalog_too_new"


class AlreadyLoaded(InputError):
    """``sample load`` found sample data already there (pass ``--add`` to add more)."""

    code = "already_loaded"
