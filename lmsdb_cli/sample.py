"""``lmsdb sample``: (being built)."""

from __future__ import annotations

import typer

sample_app = typer.Typer(no_args_is_help=True, help="(being built)")
