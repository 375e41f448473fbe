"""The server a lint run checks against: MySQL 8.0 (default) or MariaDB 10.11."""

from __future__ import annotations

from dataclasses import dataclass

from lms_db.errors import InputError


@dataclass(frozen=True)
class Target:
    """A target server.

    :param name: ``mysql8`` or ``mariadb``.
    :param version: the version executable comments are compared with
        (``/*!80003 ...*/`` runs when 80003 <= version).
    :param label: how messages name it.
    """

    name: str
    version: int
    label: str

    @property
    def mariadb(self) -> bool:
        return self.name == "mariadb"


MYSQL8 = Target("mysql8", 80040, "MySQL 8.0")
MARIADB = Target("mariadb", 101119, "MariaDB 10.11")

#: Every target by name; ``mysql8`` is the default.
TARGETS: dict[str, Target] = {t.name: t for t in (MYSQL8, MARIADB)}


def get_target(name: str | Target) -> Target:
    """The target called ``name``.

    :raises InputError: not a known target.
    """
    if isinstance(name, Target):
        return name
    target = TARGETS.get(name.lower())
    if target is None:
        raise InputError(f"unknown lint target {name!r}; use one of: {', '.join(TARGETS)}")
    return target
