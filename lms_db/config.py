"""Settings as frozen values, and the one place that reads the process environment.

No other module of ``lms_db`` touches ``os.environ``: a topology file says
``${LMS_DB_PASSWORD}`` and :func:`expand_env` alone turns it into the secret, so secrets
never live in files, flags or the catalog.  Precedence for every setting is
flags > ``LMSDB_*`` environment variables > topology file > ``DEFAULT_*``.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from lms_db.errors import ConfigError

log = logging.getLogger(__name__)

#: Environment variable naming the topology file when ``--topology`` is not given.
TOPOLOGY_ENV_VAR = "LMSDB_TOPOLOGY"
#: Seconds to wait for a server to accept a connection.
DEFAULT_CONNECT_TIMEOUT = 5.0

# ``$$`` is a literal dollar; ``${NAME}`` a reference; anything else after ``$`` is kept.
_REFERENCE = re.compile(r"\$(?:(?P<escape>\$)|\{(?P<name>[^}]*)\}|(?P<open>\{))")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ONLY_REFERENCE = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*\}")


@dataclass(frozen=True)
class Settings:
    """What the CLI resolved before calling the library.

    :param topology_path: the topology file to load, or ``None`` when none was given.
    :param connect_timeout: seconds to wait for each server.
    """

    topology_path: Path | None = None
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT


def _environ(environ: Mapping[str, str] | None) -> Mapping[str, str]:
    return os.environ if environ is None else environ


def env_references(text: str) -> tuple[str, ...]:
    """Names of the variables ``text`` refers to as ``${NAME}``, in order of appearance.

    :param text: a value from a settings file.
    """
    return tuple(
        m.group("name") for m in _REFERENCE.finditer(text) if m.group("name") is not None
    )


def is_env_reference(text: str) -> bool:
    """Whether ``text`` is exactly one ``${NAME}`` reference (how a password must be written).

    :param text: a value from a settings file.
    """
    return _ONLY_REFERENCE.fullmatch(text) is not None


def expand_env(text: str, *, where: str, environ: Mapping[str, str] | None = None) -> str:
    """Replace each ``${NAME}`` in ``text`` with the variable's value; ``$$`` gives ``$``.

    :param text: the value as written in the file.
    :param where: ``"<file>: <field>"``, the start of any error message.
    :param environ: variables to use instead of the process environment (tests).
    :raises ConfigError: a referenced variable is not set, or a reference is malformed.
        The message names ``where`` and the variable, never a value.
    """
    env = _environ(environ)

    def replace(match: re.Match[str]) -> str:
        if match.group("escape") is not None:
            return "$"
        name = match.group("name")
        if name is None or not _NAME.fullmatch(name):
            shown = "${" if name is None else "${" + name + "}"
            raise ConfigError(
                f"{where}: malformed variable reference {shown!r}; "
                "write ${NAME} with a letter or _ first, or $$ for a literal $"
            )
        if name not in env:
            raise ConfigError(
                f"{where}: environment variable {name} is not set; "
                f"export {name} before running lmsdb"
            )
        return env[name]

    return _REFERENCE.sub(replace, text)


def topology_path_from_env(environ: Mapping[str, str] | None = None) -> Path | None:
    """The topology file named by ``LMSDB_TOPOLOGY``, or ``None`` when it is unset or empty.

    :param environ: variables to use instead of the process environment (tests).
    """
    value = _environ(environ).get(TOPOLOGY_ENV_VAR, "").strip()
    return Path(value) if value else None


def resolve_settings(
    topology: Path | None = None,
    *,
    connect_timeout: float | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Merge command-line values over the environment over the defaults.

    :param topology: ``--topology`` as given, or ``None``.
    :param connect_timeout: ``--connect-timeout`` as given, or ``None``.
    :param environ: variables to use instead of the process environment (tests).
    """
    path = topology if topology is not None else topology_path_from_env(environ)
    timeout = DEFAULT_CONNECT_TIMEOUT if connect_timeout is None else connect_timeout
    return Settings(topology_path=path, connect_timeout=timeout)


def require_topology_path(settings: Settings) -> Path:
    """The topology file to load, or a clear error saying how to name one.

    :param settings: resolved settings.
    :raises ConfigError: neither ``--topology`` nor ``LMSDB_TOPOLOGY`` names a file.
    """
    if settings.topology_path is None:
        raise ConfigError(
            f"no topology file: pass --topology shards/<env>.toml or set {TOPOLOGY_ENV_VAR} "
            "(lmsdb init writes a commented one)"
        )
    return settings.topology_path


#: Test hook (crash tests): the step point at which a process pauses, e.g. ``copy:chunk``.
PAUSE_AT_ENV_VAR = "LMSDB_TEST_PAUSE_AT"
#: Test hook: the marker file the paused process writes before it sleeps.
PAUSE_FILE_ENV_VAR = "LMSDB_TEST_PAUSE_FILE"


def pause_hook_point(environ: Mapping[str, str] | None = None) -> tuple[str | None, str | None]:
    """``(point, marker file)`` of the crash-test pause hook (both unset outside tests).

    :param environ: variables to use instead of the process environment (tests).
    """
    env = _environ(environ)
    return env.get(PAUSE_AT_ENV_VAR) or None, env.get(PAUSE_FILE_ENV_VAR) or None
