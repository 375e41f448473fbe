"""``python cli.py ...`` from a checkout; the app lives in :mod:`lmsdb_cli.app` (the wheel
installs no top-level ``cli`` module)."""

from lmsdb_cli.app import app, main

__all__ = ["app", "main"]

if __name__ == "__main__":
    main()
