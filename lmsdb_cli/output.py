"""Shared terminal output: consoles, JSON printing and the error-to-exit-code mapping."""

from __future__ import annotations

import json
import sys
from typing import Any

import typer
from rich.console import Console
from rich.text import Text

from lms_db.errors import LmsDbError

console = Console()
err_console = Console(stderr=True)


def print_json(data: Any) -> None:
    """Print machine output on stdout, nothing else on that stream."""
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


class LmsdbGroup(typer.core.TyperGroup):
    """Root group: turns every ``LmsDbError`` into one red line and its exit code."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except LmsDbError as exc:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            # Text, not markup: a message may hold brackets ("[0, 100)").
            err_console.print(Text.assemble(("error: ", "red"), exc.message), soft_wrap=True)
            raise typer.Exit(code=exc.exit_code) from None
