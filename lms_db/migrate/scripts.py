"""Where the Alembic environments live, and what their version histories say.

``migrations/`` of the repository is shipped inside the wheel as ``lms_db/migrations/``;
:func:`migrations_root` finds it there or in a checkout.  Every Alembic
``Config`` lmsdb builds comes from :func:`alembic_config`: live objects (the connection, the
dialect for offline SQL) travel in ``Config.attributes``, never through globals.
"""

from __future__ import annotations

import io
import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.script import Script, ScriptDirectory
from alembic.script.revision import RevisionError
from alembic.util.exc import CommandError
from sqlalchemy.engine import Connection

from lms_db.dialects import DIALECTS
from lms_db.errors import ConfigError, InputError, UnknownObjectError
from lms_db.schema.ddl import TARGETS, Target

log = logging.getLogger(__name__)

#: Held while an Alembic command runs: its ``op``/``context`` proxies are process globals, so
#: two threads of one process must never run commands at once (parallel shards use processes).
ALEMBIC_LOCK = threading.RLock()
#: How ``lmsdb migrate new`` names revision files: date first, so ``ls`` sorts them.
FILE_TEMPLATE = "%%(year)d%%(month).2d%%(day).2d_%%(rev)s_%%(slug)s"


@dataclass(frozen=True)
class RevisionInfo:
    """One revision of a history.

    :param revision: its id.
    :param down_revision: the revision it follows (``None``: the first one).
    :param message: the first line of its docstring.
    :param path: the script file.
    :param is_head: whether it is the newest revision.
    """

    revision: str
    down_revision: str | None
    message: str
    path: str
    is_head: bool


def migrations_root() -> Path:
    """The directory holding the ``oltp`` and ``analytics`` Alembic environments.

    Found by path, never by import (a top-level ``migrations`` package of another project must
    not be taken for lmsdb's): ``lms_db/migrations/`` in an installed wheel (setup.py copies
    it there), ``migrations/`` beside ``lms_db/`` in a checkout or an editable install.

    :raises ConfigError: neither exists.
    """
    package = Path(__file__).resolve().parents[1]
    for root in (package / "migrations", package.parent / "migrations"):
        if (root / "oltp" / "env.py").is_file():
            return root
    raise ConfigError("cannot find lmsdb's migrations/ directory; reinstall lmsdb")


def check_target(target: str) -> Target:
    """``target`` if it names a history, else a clear error.

    :param target: ``oltp`` or ``analytics``.
    :raises UnknownObjectError: any other value.
    """
    if target not in TARGETS:
        raise UnknownObjectError(f"unknown target {target!r}: choose oltp or analytics")
    return target


def script_location(target: str, root: Path | None = None) -> Path:
    """The Alembic script location of ``target``.

    :param target: ``oltp`` or ``analytics``.
    :param root: a migrations directory to use instead of lmsdb's own.
    :raises UnknownObjectError: unknown target.
    :raises ConfigError: ``root`` holds no such environment.
    """
    location = (root or migrations_root()) / check_target(target)
    if not (location / "env.py").is_file():
        raise ConfigError(f"{location}: not an Alembic environment (no env.py)")
    return location


def alembic_config(
    target: str,
    *,
    root: Path | None = None,
    connection: Connection | None = None,
    dialect_name: str | None = None,
    output: io.StringIO | None = None,
    **attributes: Any,
) -> Config:
    """An Alembic ``Config`` for ``target`` with live objects in ``attributes``.

    :param target: ``oltp`` or ``analytics``.
    :param root: a migrations directory to use instead of lmsdb's own.
    :param connection: the connection ``env.py`` runs on (online mode).
    :param dialect_name: the dialect offline SQL is rendered for.
    :param output: where offline SQL and command output are written.
    :param attributes: more values for ``env.py`` (``transactional_ddl``...).
    """
    config = Config(output_buffer=output, stdout=output or io.StringIO())
    config.set_main_option("script_location", str(script_location(target, root)))
    config.set_main_option("file_template", FILE_TEMPLATE)
    config.attributes["lmsdb_target"] = target
    if connection is not None:
        config.attributes["connection"] = connection
    if dialect_name is not None:
        config.attributes["dialect_name"] = dialect_name
    config.attributes.update(attributes)
    return config


def script_directory(target: str, root: Path | None = None) -> ScriptDirectory:
    """The version history of ``target``; it must be linear (one head).

    :param target: ``oltp`` or ``analytics``.
    :param root: a migrations directory to use instead of lmsdb's own.
    :raises ConfigError: the history has several heads or cannot be read.
    """
    try:
        script = ScriptDirectory.from_config(alembic_config(target, root=root))
        heads = script.get_heads()
    except CommandError as exc:
        raise ConfigError(f"{target} migrations: {exc}") from exc
    if len(heads) > 1:
        raise ConfigError(
            f"{target} migrations have {len(heads)} heads ({', '.join(sorted(heads))}); "
            "merge them first (alembic merge)"
        )
    return script


def head_revision(script: ScriptDirectory) -> str | None:
    """The newest revision, or ``None`` for an empty history."""
    return script.get_current_head()


def resolve_revision(script: ScriptDirectory, revision: str) -> str | None:
    """Turn ``head``, ``base``, an id or a unique id prefix into a full revision id.

    :param script: the history.
    :param revision: what the user typed.
    :returns: the revision id, ``None`` for ``base``.
    :raises UnknownObjectError: no revision matches, or the prefix is ambiguous.
    """
    if revision == "base":
        return None
    if revision == "head":
        return head_revision(script)
    try:
        found = script.get_revision(revision)
    except (CommandError, RevisionError) as exc:
        raise UnknownObjectError(f"unknown revision {revision!r}: {exc}") from exc
    if found is None:
        raise UnknownObjectError(
            f"unknown revision {revision!r}; `lmsdb migrate history` lists them"
        )
    return found.revision


def upgrade_steps(script: ScriptDirectory, current: str | None, target: str | None) -> list[str]:
    """The revisions that bring ``current`` to ``target``, oldest first.

    Empty when ``current`` already is ``target`` or a descendant of it.

    :raises UnknownObjectError: ``current`` is not in this history (a database migrated by
        another history).
    """
    if target == current or target is None:
        return []
    _known(script, current)
    try:
        path = list(script.iterate_revisions(target, current or "base"))
    except (CommandError, RevisionError):
        return []  # target is not ahead of current: already there or beyond
    return [rev.revision for rev in reversed(path)]


def downgrade_steps(
    script: ScriptDirectory, current: str | None, target: str | None
) -> list[tuple[str, str | None]]:
    """``(revision, destination)`` pairs that bring ``current`` down to ``target``, newest first.

    Empty when ``current`` already is ``target`` or older.

    :raises UnknownObjectError: ``current`` is not in this history.
    """
    if current is None or current == target:
        return []
    _known(script, current)
    try:
        path = list(script.iterate_revisions(current, target or "base"))
    except (CommandError, RevisionError):
        return []
    return [(rev.revision, _down(rev)) for rev in path]


def _down(rev: Script) -> str | None:
    down = rev.down_revision
    return down if isinstance(down, str) or down is None else down[0]


def _known(script: ScriptDirectory, revision: str | None) -> None:
    if revision is None:
        return
    try:
        if script.get_revision(revision) is not None:
            return
    except (CommandError, RevisionError):
        pass
    raise UnknownObjectError(
        f"the database is at revision {revision!r}, which this lmsdb does not know; "
        "upgrade lmsdb or check the --target"
    )


def history(target: str, root: Path | None = None) -> list[RevisionInfo]:
    """Every revision of ``target``, newest first.

    :param target: ``oltp`` or ``analytics``.
    :param root: a migrations directory to use instead of lmsdb's own.
    """
    script = script_directory(target, root)
    head = head_revision(script)
    return [
        RevisionInfo(
            revision=rev.revision,
            down_revision=_down(rev),
            message=(rev.doc or "").strip().splitlines()[0] if rev.doc else "",
            path=rev.path,
            is_head=rev.revision == head,
        )
        for rev in script.walk_revisions()
    ]


def offline_sql(
    target: str, revision_range: str, dialect_name: str, root: Path | None = None
) -> str:
    """The SQL a range of revisions would run, for review (nothing is connected to).

    :param target: ``oltp`` or ``analytics``.
    :param revision_range: ``FROM:TO`` (``base:head``...) or ``TO`` meaning ``base:TO``; when
        ``TO`` is older than ``FROM`` the downgrade's SQL is rendered.
    :param dialect_name: ``mysql``, ``mariadb``, ``postgresql`` or ``sqlite``.
    :param root: a migrations directory to use instead of lmsdb's own.
    :raises UnknownObjectError: unknown dialect or revision.
    :raises InputError: a malformed range.
    """
    if dialect_name not in DIALECTS:
        raise UnknownObjectError(
            f"unknown dialect {dialect_name!r}: choose one of {', '.join(DIALECTS)}"
        )
    start, sep, end = revision_range.partition(":")
    if not sep:
        start, end = "base", revision_range
    if not start or not end or ":" in end:
        raise InputError(f"bad revision range {revision_range!r}: write FROM:TO, e.g. base:head")
    script = script_directory(target, root)
    first, last = resolve_revision(script, start), resolve_revision(script, end)
    output = io.StringIO()
    config = alembic_config(target, root=root, dialect_name=dialect_name, output=output)
    from_text, to_text = first or "base", last or "base"
    try:
        with ALEMBIC_LOCK:
            if downgrade_steps(script, first, last):
                command.downgrade(config, f"{from_text}:{to_text}", sql=True)
            else:
                command.upgrade(config, f"{from_text}:{to_text}", sql=True)
    except CommandError as exc:
        raise InputError(f"cannot render {revision_range}: {exc}") from exc
    return output.getvalue()
