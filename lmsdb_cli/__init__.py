"""The terminal layer of lmsdb: Typer sub-apps and Rich rendering.

Only this package and ``cli.py`` import typer and rich; each module is one command group
and calls into ``lms_db`` for the work.
"""
