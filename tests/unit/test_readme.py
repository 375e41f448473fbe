"""The README's examples work in a plain clone (issue #9): every ``lmsdb schema lint``
line names only files inside the repository, and runs with a lint exit code (0 or 1)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli import app

ROOT = Path(__file__).resolve().parents[2]
LINT_LINES = [
    shlex.split(line.split("#", 1)[0])
    for line in re.findall(r"^lmsdb schema lint.*$", (ROOT / "README.md").read_text(), re.MULTILINE)
]


def test_the_readme_has_lint_examples() -> None:
    assert len(LINT_LINES) >= 2


@pytest.mark.parametrize("words", LINT_LINES, ids=" ".join)
def test_readme_lint_example_runs_in_a_plain_clone(
    words: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    args = words[1:]
    for arg in args:
        if not arg.startswith("-") and arg not in ("schema", "lint"):
            assert (ROOT / arg).resolve().is_relative_to(ROOT), f"{arg} is outside a clone"
            assert (ROOT / arg).exists(), arg
    result = CliRunner().invoke(app, args)
    assert result.exit_code in (0, 1), result.output
