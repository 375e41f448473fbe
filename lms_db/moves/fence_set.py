"""One fence trigger set per table, whatever the number of past moves (#10).

Every fence of a shard is a row of ``lmsdb_fences``; the triggers of a table are rebuilt
from those rows whenever a fence is added or lifted, so a table carries one set (three
triggers on MariaDB/MySQL and SQLite, one function on PostgreSQL) checking all its fenced
ranges.  The bounds stay constants in the trigger text: a lookup of ``lmsdb_fences`` per
write would read an MVCC snapshot that can predate a new fence (a lost write), and would
lose the freeze barrier that trigger DDL gives.

The rebuild keeps the barrier of the per-move triggers it replaces:

- MariaDB replaces each trigger with ``CREATE OR REPLACE TRIGGER`` (one statement under
  the table's exclusive metadata lock: no write runs between the old and the new text);
  MySQL, which has no ``OR REPLACE``, alternates two name sets (``lmsdb_fa_*``,
  ``lmsdb_fb_*``): the new set is created before the old one is dropped.  Either way each
  statement waits for the table's open transactions (metadata lock);
- PostgreSQL replaces the function body in a transaction that first takes the table's
  ``SHARE ROW EXCLUSIVE`` lock (what ``CREATE TRIGGER`` took);
- SQLite drops and re-creates the set inside one write transaction.

Triggers of older lmsdb versions (one set per move, ``lmsdb_f<move>_*``) are dropped by the
first rebuild, their ranges being in ``lmsdb_fences`` already.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from itertools import pairwise

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from lms_db.dialects import quote
from lms_db.moves import triggers as trg
from lms_db.moves.scope import TableScope

#: ``(move_id, lo, hi)`` of one fence.
Fence = tuple[int, int, int]

#: The two name sets MariaDB/MySQL alternate between (PostgreSQL and SQLite use the first).
GENERATIONS = ("fa", "fb")


def set_names(conn: Connection, scope: TableScope, generation: str = "fa") -> list[str]:
    """Names of one fence trigger set of ``scope``'s table."""
    base = f"lmsdb_{generation}_{scope.name}"
    if conn.dialect.name == "postgresql":
        return [base]
    return [f"{base}_{op}" for op in ("i", "u", "d")]


def marker(move_id: int) -> str:
    """Text the fence triggers carry for each move they fence (in the error message)."""
    return f"(move {int(move_id)})"


def keyspace_fences(conn: Connection, keyspace: str) -> list[Fence]:
    """The fences ``lmsdb_fences`` records for ``keyspace``, by first key."""
    f = trg.fences.c
    rows = conn.execute(
        sa.select(f.move_id, f.lo, f.hi).where(f.keyspace == keyspace).order_by(f.lo, f.move_id)
    ).all()
    return [(int(m), int(lo), int(hi)) for m, lo, hi in rows]


def _q(conn: Connection, name: str) -> str:
    return quote(conn.dialect, name)


def create_statements(
    conn: Connection, scope: TableScope, generation: str, fences: Sequence[Fence]
) -> list[str]:
    """``CREATE`` statements of one fence set refusing writes to every range of ``fences``."""
    q = _q(conn, scope.name)
    fences = sorted(fences, key=lambda f: (f[1], f[0]))
    names = set_names(conn, scope, generation)
    new = [trg.key_sql(conn, scope, "NEW")]
    old = [trg.key_sql(conn, scope, "OLD")]

    def ranges(keys: list[str], lo: int, hi: int) -> str:
        return " OR ".join(trg._in_range(k, lo, hi) for k in keys)

    def msg(m: int, lo: int, hi: int) -> str:
        return trg.fence_message(scope.keyspace, lo, hi, m)

    dialect = conn.dialect.name
    if dialect in trg.MYSQL_FAMILY:

        def refuse(key: str, fence: Fence) -> str:
            m, lo, hi = fence
            return (
                f"IF {trg._in_range(key, lo, hi)} AND IFNULL(@lmsdb_fence_bypass, 0) <> {m} "
                f"THEN SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = '{msg(m, lo, hi)}'; END IF;"
            )

        def body(keys: list[str]) -> str:
            return "BEGIN " + " ".join(mysql_check(k, fences, refuse) for k in keys) + " END"

        return [
            f"CREATE TRIGGER {_q(conn, n)} BEFORE {event} ON {q} FOR EACH ROW {body(keys)}"
            for n, event, keys in zip(
                names, ("INSERT", "UPDATE", "DELETE"), (new, new + old, old), strict=True
            )
        ]
    if dialect == "postgresql":
        function = _q(conn, names[0])
        branches = [
            f"IF bypass <> '{m}' AND ((TG_OP IN ('INSERT', 'UPDATE') AND {ranges(new, lo, hi)})"
            f" OR (TG_OP IN ('UPDATE', 'DELETE') AND {ranges(old, lo, hi)})) THEN\n"
            f"    RAISE EXCEPTION '{msg(m, lo, hi)}' USING ERRCODE = 'P0001';\n"
            for m, lo, hi in fences
        ]
        return [
            f"CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $$\n"
            "DECLARE bypass text := coalesce(current_setting('lmsdb.fence_bypass', true), '');\n"
            "BEGIN\n  " + "  ELS".join(branches) + "  END IF;\n"
            "  IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;\n"
            "  RETURN NEW;\n"
            "END\n$$"
        ]

    def sqlite_trigger(name: str, event: str, keys: list[str]) -> str:
        when = " OR ".join(f"({ranges(keys, lo, hi)})" for _, lo, hi in fences)
        raises = " ".join(
            f"SELECT RAISE(ABORT, '{msg(m, lo, hi)}') WHERE {ranges(keys, lo, hi)};"
            for m, lo, hi in fences
        )
        return (
            f"CREATE TRIGGER {_q(conn, name)} BEFORE {event} ON {q} WHEN {when} BEGIN {raises} END"
        )

    return [
        sqlite_trigger(n, event, keys)
        for n, event, keys in zip(
            names, ("INSERT", "UPDATE", "DELETE"), (new, new + old, old), strict=True
        )
    ]


def disjoint(fences: Sequence[Fence]) -> bool:
    """Whether ``fences`` (sorted by first key) cover disjoint ranges."""
    return all(a[2] <= b[1] for a, b in pairwise(fences))


def mysql_check(key: str, fences: Sequence[Fence], refuse: Callable[[str, Fence], str]) -> str:
    """Stored-program code refusing a write whose ``key`` is in a fence: a binary search
    over disjoint ranges (a stored program interprets every test: many past moves must
    not slow each write by as many tests), one test per fence otherwise."""
    if not disjoint(fences):
        return " ".join(refuse(key, f) for f in fences)

    def search(part: Sequence[Fence]) -> str:
        if len(part) == 1:
            return refuse(key, part[0])
        mid = len(part) // 2
        return (
            f"IF {key} < {int(part[mid][1])} THEN {search(part[:mid])} "
            f"ELSE {search(part[mid:])} END IF;"
        )

    return search(fences)


def rebuild_statements(
    conn: Connection,
    scope: TableScope,
    fences: Sequence[Fence],
    existing: set[str],
    legacy_moves: Sequence[int],
) -> list[str]:
    """Statements replacing the table's fence set by one checking ``fences`` (none: dropped).

    :param existing: the shard's lmsdb trigger names now.
    :param legacy_moves: moves whose per-move triggers (older lmsdb) may still exist.
    """
    q = _q
    dialect = conn.dialect.name
    out: list[str] = []
    if dialect in trg.MYSQL_FAMILY:
        current = [g for g in GENERATIONS if set_names(conn, scope, g)[0] in existing]
        # MariaDB replaces a trigger in one statement under the table's exclusive metadata
        # lock (no write runs between): 3 DDL per table.  MySQL has no OR REPLACE: create
        # the other set, then drop this one (6).
        replace = bool(getattr(conn.dialect, "is_mariadb", False))
        if replace:
            target = current[0] if current else "fa"
        else:
            target = "fb" if current == ["fa"] else "fa"
        if fences:
            made = create_statements(conn, scope, target, fences)
            if replace:
                made = [s.replace("CREATE TRIGGER", "CREATE OR REPLACE TRIGGER", 1) for s in made]
            out += made
        for g in GENERATIONS:
            if g != target or not fences:
                out += [
                    f"DROP TRIGGER IF EXISTS {q(conn, n)}"
                    for n in set_names(conn, scope, g)
                    if n in existing
                ]
    elif dialect == "postgresql":
        name = set_names(conn, scope)[0]
        # What CREATE TRIGGER took: waits for the table's writers, holds new ones off.
        out.append(f"LOCK TABLE {q(conn, scope.name)} IN SHARE ROW EXCLUSIVE MODE")
        if fences:
            out += create_statements(conn, scope, "fa", fences)
            if name not in existing:
                out.append(
                    f"CREATE TRIGGER {q(conn, name)} BEFORE INSERT OR UPDATE OR DELETE ON "
                    f"{q(conn, scope.name)} FOR EACH ROW EXECUTE FUNCTION {q(conn, name)}()"
                )
        else:
            out += [
                f"DROP TRIGGER IF EXISTS {q(conn, name)} ON {q(conn, scope.name)}",
                f"DROP FUNCTION IF EXISTS {q(conn, name)}()",
            ]
    else:
        out += [f"DROP TRIGGER IF EXISTS {q(conn, n)}" for n in set_names(conn, scope)]
        if fences:
            out += create_statements(conn, scope, "fa", fences)
    for move_id in legacy_moves:
        if trg.trigger_names(conn, "f", move_id, scope)[0] in existing:
            out += trg.drop_statements(conn, "f", move_id, scope)
    return out


def fence_texts(conn: Connection) -> dict[str, str]:
    """The text of each table's fence triggers now, by table (one query for all tables)."""
    dialect = conn.dialect.name
    if dialect in trg.MYSQL_FAMILY:
        query = (
            "SELECT EVENT_OBJECT_TABLE, ACTION_STATEMENT FROM information_schema.TRIGGERS "
            "WHERE EVENT_OBJECT_SCHEMA = DATABASE() AND LEFT(TRIGGER_NAME, 7) = 'lmsdb_f'"
        )
    elif dialect == "postgresql":
        query = (
            "SELECT c.relname, p.prosrc FROM pg_trigger t JOIN pg_proc p ON t.tgfoid = p.oid "
            "JOIN pg_class c ON c.oid = t.tgrelid "
            "WHERE c.relnamespace = current_schema()::regnamespace "
            "AND left(t.tgname, 7) = 'lmsdb_f'"
        )
    else:
        query = (
            "SELECT tbl_name, sql FROM sqlite_master WHERE type = 'trigger' "
            "AND substr(name, 1, 7) = 'lmsdb_f'"
        )
    # No LIKE: format-style drivers would read its % (prefix "lmsdb_f": both sets, legacy).
    texts: dict[str, str] = {}
    for table, text in conn.exec_driver_sql(query).all():
        texts[str(table)] = texts.get(str(table), "") + "\n" + str(text)
    return texts


@contextmanager
def fence_bypass(
    conn: Connection, move_id: int, scopes: Sequence[TableScope], is_fenced: bool
) -> Iterator[None]:
    """Let this connection's transaction write the fenced range of move ``move_id``.

    Use inside a transaction; the bypass ends with it (SQLite: the fence sets are dropped
    at the start and rebuilt from ``lmsdb_fences`` before the block ends).
    """
    dialect = conn.dialect.name
    if not is_fenced:
        yield
        return
    if dialect in trg.MYSQL_FAMILY:
        conn.exec_driver_sql(f"SET @lmsdb_fence_bypass = {int(move_id)}")
        try:
            yield
        finally:
            conn.exec_driver_sql("SET @lmsdb_fence_bypass = NULL")
    elif dialect == "postgresql":
        conn.exec_driver_sql(f"SET LOCAL lmsdb.fence_bypass = '{int(move_id)}'")
        yield
    else:
        existing = trg.existing_triggers(conn)
        fences = keyspace_fences(conn, scopes[0].keyspace)
        legacy = [m for m, _, _ in fences]
        for scope in scopes:
            trg.run_all(conn, rebuild_statements(conn, scope, [], existing, legacy))
        yield
        for scope in scopes:
            trg.run_all(conn, rebuild_statements(conn, scope, fences, set(), []))
