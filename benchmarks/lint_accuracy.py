"""Lint accuracy: the oracle corpus and the real-world schemas, per target.

Counts, for ``--target mariadb`` and ``--target mysql8``, how many corpus cases the target
refuses that lint catches (an error-severity finding) and how many it accepts that lint
wrongly errors on, plus the errors and warnings on each real-world schema. Run it from the
repository root; ``--baseline DIR`` measures another checkout's ``lms_db`` (e.g. main
unpacked with ``git archive 34f3403 lms_db | tar -x -C /tmp/before``)::

    python benchmarks/lint_accuracy.py
    python benchmarks/lint_accuracy.py --baseline /tmp/before

docs/lint.md records the figures. Accuracy, not speed: the load of the machine does not
change them.
"""

from __future__ import annotations

import argparse
import inspect
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
REALWORLD = REPO.parent / "shared" / "lint-oracle" / "realworld"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", type=Path, help="a directory holding another lms_db")
    args = parser.parse_args()
    if args.baseline:
        sys.path.insert(0, str(args.baseline))
    sys.path.insert(1, str(REPO))
    from lms_db.lint import has_errors, lint_paths, lint_sql  # after sys.path is set
    from tests.unit.lint_corpus import load_cases

    targeted = "target" in inspect.signature(lint_sql).parameters
    for target in ("mariadb", "mysql8"):
        kw = {"target": target} if targeted else {}
        caught = refused = false = accepted = 0
        for case in load_cases():
            error = has_errors(lint_sql(case.sql, keyspaces={}, **kw))
            if case.verdict(target) == "refuse":
                refused, caught = refused + 1, caught + error
            else:
                accepted, false = accepted + 1, false + error
        print(f"{target}: refused cases caught {caught} of {refused}; "
              f"false errors on accepted {false} of {accepted}")  # fmt: skip
        for path in sorted(REALWORLD.glob("*.sql")):
            found = lint_paths([path], keyspaces={}, **kw)
            errors = sum(f.severity == "error" for f in found)
            warnings = sum(f.severity == "warning" for f in found)
            print(f"  {path.name}: {errors} errors, {warnings} warnings")


if __name__ == "__main__":
    main()
