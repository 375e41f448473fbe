"""``lmsdb migrate``: (being built)."""

from __future__ import annotations

import typer

migrate_app = typer.Typer(no_args_is_help=True, help="(being built)")
