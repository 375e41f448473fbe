"""Settings as frozen values, and the one place that reads the process environment.

No other module of ``lms_db`` touches ``os.environ``: a topology file says
``${LMS_DB_PASSWORD}`` (or ``${file:/run/secrets/db}``, a file the user names) and
:func:`expand_env` alone turns it into the secret, so secrets never live in topology files,
flags or the catalog.  Precedence for every setting is
flags > ``LMSDB_*`` environment variables > topology file > ``DEFAULT_*``.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from lms_db.errors import ConfigError

log = logging.getLogger(__name__)

#: Environment variable naming the topology file when ``--topology`` is not given.
TOPOLOGY_ENV_VAR = "LMSDB_TOPOLOGY"
#: Environment variable giving the connect timeout when ``--connect-timeout`` is not given.
CONNECT_TIMEOUT_ENV_VAR = "LMSDB_CONNECT_TIMEOUT"
#: Environment variable giving ``views refresh --url`` when the option is not given.
URL_ENV_VAR = "LMSDB_URL"
#: Seconds to wait for a server to accept a connection.
DEFAULT_CONNECT_TIMEOUT = 5.0

# ``$$`` is a literal dollar; ``${NAME}`` a reference; anything else after ``$`` is kept.
_REFERENCE = re.compile(r"\$(?:(?P<escape>\$)|\{(?P<name>[^}]*)\}|(?P<open>\{))")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ONLY_REFERENCE = re.compile(r"\$\{(?:[A-Za-z_][A-Za-z0-9_]*|file:[^}]+)\}")
#: The prefix of a reference to a file holding a secret: ``${file:/path}``.
FILE_REFERENCE_PREFIX = "file:"


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


def is_env_reference(text: str) -> bool:
    """Whether ``text`` is exactly one ``${NAME}`` or ``${file:PATH}`` reference (how a
    password must be written).

    :param text: a value from a settings file.
    """
    return _ONLY_REFERENCE.fullmatch(text) is not None


def expand_env(text: str, *, where: str, environ: Mapping[str, str] | None = None) -> str:
    """Replace each ``${NAME}`` in ``text`` with the variable's value, and each
    ``${file:PATH}`` with the file's contents (one trailing newline dropped); ``$$`` gives ``$``.

    :param text: the value as written in the file.
    :param where: ``"<file>: <field>"``, the start of any error message.
    :param environ: variables to use instead of the process environment (tests).
    :raises ConfigError: a referenced variable is not set, a named file cannot be read, or a
        reference is malformed.  The message names ``where`` and the variable or file, never
        a value.
    """
    env = _environ(environ)

    def replace(match: re.Match[str]) -> str:
        if match.group("escape") is not None:
            return "$"
        name = match.group("name")
        if name is not None and name.startswith(FILE_REFERENCE_PREFIX):
            return _read_secret_file(name[len(FILE_REFERENCE_PREFIX) :], where)
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


def _read_secret_file(path_text: str, where: str) -> str:
    path = Path(path_text).expanduser()
    try:
        value = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise ConfigError(f"{where}: cannot read the password file {path}: {reason}") from None
    return value[:-1] if value.endswith("\n") else value


def topology_path_from_env(environ: Mapping[str, str] | None = None) -> Path | None:
    """The topology file named by ``LMSDB_TOPOLOGY``, or ``None`` when it is unset or empty.

    :param environ: variables to use instead of the process environment (tests).
    """
    value = _environ(environ).get(TOPOLOGY_ENV_VAR, "").strip()
    return Path(value) if value else None


def connect_timeout_from_env(environ: Mapping[str, str] | None = None) -> float | None:
    """Seconds given by ``LMSDB_CONNECT_TIMEOUT``, or ``None`` when it is unset or empty.

    :param environ: variables to use instead of the process environment (tests).
    :raises ConfigError: the value is not a positive number of seconds.
    """
    value = _environ(environ).get(CONNECT_TIMEOUT_ENV_VAR, "").strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        seconds = float("nan")
    if not seconds > 0 or seconds == float("inf"):
        raise ConfigError(
            f"{CONNECT_TIMEOUT_ENV_VAR}={value!r}: give a positive number of seconds, e.g. 5"
        )
    return seconds


def url_from_env(environ: Mapping[str, str] | None = None) -> str | None:
    """The database URL given by ``LMSDB_URL``, or ``None`` when it is unset or empty.

    :param environ: variables to use instead of the process environment (tests).
    """
    value = _environ(environ).get(URL_ENV_VAR, "").strip()
    return value or None


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
    :raises ConfigError: ``--connect-timeout`` or ``LMSDB_CONNECT_TIMEOUT`` is not a
        positive number of seconds.
    """
    path = topology if topology is not None else topology_path_from_env(environ)
    if connect_timeout is not None:
        connect_timeout = _check_timeout(connect_timeout, "--connect-timeout")
    else:
        connect_timeout = connect_timeout_from_env(environ)
    timeout = DEFAULT_CONNECT_TIMEOUT if connect_timeout is None else connect_timeout
    return Settings(topology_path=path, connect_timeout=timeout)


def _check_timeout(value: float, where: str) -> float:
    # NaN fails every comparison, so "not > 0" also refuses it.
    if not value > 0 or value == float("inf"):
        raise ConfigError(
            f"{where} {value:g}: give a positive number of seconds (default "
            f"{DEFAULT_CONNECT_TIMEOUT:g})"
        )
    return value


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


#: Test hook (lms_db.hooks): pause at ``<step>[@<n>]`` (or ``<step>#<n>``).
PAUSE_AT_ENV = "LMSDB_TEST_PAUSE_AT"
#: Test hook: the directory the paused process writes ``<pid>.paused`` into.
PAUSE_DIR_ENV = "LMSDB_TEST_PAUSE_DIR"
#: Test hook: an exact marker path instead (takes precedence over the directory).
PAUSE_FILE_ENV = "LMSDB_TEST_PAUSE_FILE"


def pause_request(environ: Mapping[str, str] | None = None) -> tuple[str, str, str]:
    """The test pause point asked for (``LMSDB_TEST_PAUSE_AT``, ``""``: none), the directory
    for its marker file (``LMSDB_TEST_PAUSE_DIR``, default ``.``) and an exact marker path
    (``LMSDB_TEST_PAUSE_FILE``, ``""``: none)."""
    env = _environ(environ)
    return (env.get(PAUSE_AT_ENV, ""), env.get(PAUSE_DIR_ENV) or ".", env.get(PAUSE_FILE_ENV, ""))


#: ``LMSDB_TEST_PAUSE_MODE=stop``: a pause point stops the process (SIGSTOP) instead of sleeping.
PAUSE_MODE_ENV_VAR = "LMSDB_TEST_PAUSE_MODE"


def pause_mode(environ: Mapping[str, str] | None = None) -> str | None:
    """The crash-test pause mode (``stop`` or unset)."""
    return _environ(environ).get(PAUSE_MODE_ENV_VAR) or None


@contextmanager
def environment_defaults(values: Mapping[str, str]) -> Iterator[None]:
    """Set the variables of ``values`` that the environment lacks, for the block only (the
    demo's dummy credentials for its local S3 endpoint); real settings are never replaced."""
    added = [k for k in values if k not in os.environ]
    os.environ.update({k: values[k] for k in added})
    try:
        yield
    finally:
        for key in added:
            os.environ.pop(key, None)
