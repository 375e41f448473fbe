"""The lint oracle corpus (tests/fixtures/lint/corpus): cases written from the manuals."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

CORPUS = Path(__file__).parents[1] / "fixtures" / "lint" / "corpus"
_HEADER = re.compile(r"^-- (id|expect|mysql8|rule): ?(.*)$")


@dataclass(frozen=True)
class Case:
    """One case: its SQL, what MariaDB 10.11 does (``expect``) and what MySQL 8 does."""

    id: str
    sql: str
    expect: str  # accept | refuse (MariaDB, checked on the server)
    mysql8: str  # accept | refuse (from the MySQL 8.0 manual)
    rule: str
    path: Path

    def verdict(self, target: str) -> str:
        return self.expect if target == "mariadb" else self.mysql8


def load_cases() -> list[Case]:
    """Every case of every corpus file, in file order."""
    cases: list[Case] = []
    for path in sorted(CORPUS.glob("*.sql")):
        blocks = re.split(r"(?m)^(?=-- id:)", path.read_text(encoding="utf-8"))
        for block in blocks:
            fields: dict[str, str] = {}
            body: list[str] = []
            for line in block.splitlines():
                match = _HEADER.match(line)
                if match and not body:
                    fields[match.group(1)] = match.group(2).strip()
                else:
                    body.append(line)
            if "id" not in fields:
                continue
            expect = fields["expect"]
            mysql8 = fields.get("mysql8", "same")
            cases.append(
                Case(
                    fields["id"],
                    "\n".join(body).strip() + "\n",
                    expect,
                    expect if mysql8 == "same" else mysql8,
                    fields.get("rule", ""),
                    path,
                )
            )
    return cases
