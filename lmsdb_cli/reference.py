"""``docs/cli.md``: Typer's Markdown reference of every command, without HTML entities.

Typer escapes help text as HTML (``&#x27;``, ``&gt;``), which Markdown shows as is inside
code blocks; the examples are code blocks.  Regenerate the page with::

    python -m lmsdb_cli.reference docs/cli.md
"""

from __future__ import annotations

import html
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def render_reference() -> str:
    """The Markdown reference of ``lmsdb`` (from ``typer cli.py utils docs``), unescaped."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "cli.md"
        subprocess.run(
            [
                sys.executable,
                "-m",
                "typer",
                "cli.py",
                "utils",
                "docs",
                "--name",
                "lmsdb",
                "--output",
                str(out),
            ],
            cwd=ROOT,
            check=True,
            capture_output=True,
        )
        return html.unescape(out.read_text(encoding="utf-8"))


def main() -> None:
    """Write the reference to the file named on the command line (default: stdout)."""
    text = render_reference()
    if len(sys.argv) > 1:
        Path(sys.argv[1]).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)


if __name__ == "__main__":
    main()
