"""Shared terminal output: consoles, JSON printing and the error-to-exit-code mapping."""

from __future__ import annotations

import inspect
import json
import sys
import traceback
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.text import Text

from lms_db.errors import LmsDbError
from lms_db.topology.failures import as_lmsdb_error, is_driver_error

console = Console()
err_console = Console(stderr=True)


_json_printed: list[bool] = [False]  # per invocation: the error JSON is never a second object


def print_json(data: Any) -> None:
    """Print machine output on stdout, nothing else on that stream."""
    _json_printed[0] = True
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


# Click's UsageError, found through a public class: newer Typer vendors click as a private
# module, older Typer depends on click itself.
_UsageError: type[Exception] = next(
    c for c in typer.BadParameter.__mro__ if c.__name__ == "UsageError"
)


def _is_help_request(exc: Exception) -> bool:
    """A group called with no command: click shows its help through a UsageError."""
    return any(c.__name__ == "NoArgsIsHelpError" for c in type(exc).__mro__)


class LmsdbGroup(typer.core.TyperGroup):
    """Root group: turns every ``LmsDbError`` and every usage error (bad option value,
    unknown command) into one red line and its exit code (2 for usage errors)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _reflow_tree(self)

    def invoke(self, ctx: Any) -> Any:
        # The subcommand's arguments, read before click hands them on (and clears them).
        _json_printed[0] = False
        if isinstance(ctx.obj, dict) or ctx.obj is None:
            ctx.meta["lmsdb.args"] = [*getattr(ctx, "protected_args", ()), *ctx.args]
        try:
            return super().invoke(ctx)
        except LmsDbError as exc:
            _fail(ctx, exc, exc)
        except _UsageError as exc:
            _usage_error(exc)
        except (typer.Exit, typer.Abort):
            raise
        except Exception as exc:  # the one boundary: no driver error escapes
            if not is_driver_error(exc):
                raise  # a bug in lmsdb: keep its traceback
            _fail(ctx, as_lmsdb_error(exc, where="database", began=True), exc)

    def make_context(self, *args: Any, **kwargs: Any) -> Any:
        try:  # the root's own options (lmsdb --bogus) are parsed here
            return super().make_context(*args, **kwargs)
        except _UsageError as exc:
            _usage_error(exc)


def _wants_json(ctx: Any) -> bool:
    """Whether the command line asked for ``--json`` (the subcommand's own option)."""
    return "--json" in ctx.meta.get("lmsdb.args", ())


def _fail(ctx: Any, error: LmsDbError, raised: BaseException) -> NoReturn:
    """The exit-code rule (docs/cli.md "Exit codes"): one red line on stderr naming what
    failed and what to do; with ``--json`` the error as a JSON object on stdout too;
    ``--debug`` adds the traceback; the exit code is the error's either way."""
    if ctx.obj and ctx.obj.get("debug"):
        traceback.print_exception(raised, file=sys.stderr)
    if _wants_json(ctx) and not _json_printed[0]:
        print_json({"ok": False, **error.to_dict()})
    # Text, not markup: a message may hold brackets ("[0, 100)").
    err_console.print(Text.assemble(("error: ", "red"), error.message), soft_wrap=True)
    raise typer.Exit(code=error.exit_code) from None


def _usage_error(exc: Exception) -> NoReturn:
    """One line for a usage error, exit 2 (a group's own help request goes through)."""
    if _is_help_request(exc):
        raise exc
    where = getattr(getattr(exc, "ctx", None), "command_path", None) or "lmsdb"
    format_message = getattr(exc, "format_message", None)
    message = format_message() if callable(format_message) else str(exc)
    err_console.print(
        Text.assemble(("error: ", "red"), f"{message} (see {where} --help)"), soft_wrap=True
    )
    raise typer.Exit(code=2) from None


def reflow_help(text: str) -> str:
    """Docstring help as Typer's rich mode should show it: prose paragraphs (and each
    ``- `` bullet) joined into one line for the terminal to wrap; indented blocks (examples)
    and ``\\b`` paragraphs kept line by line.  Rich mode keeps every source line break."""
    out: list[str] = []
    for paragraph in text.split("\n\n"):
        lines = paragraph.split("\n")
        if paragraph.startswith(("\b", " ")):
            out.append(paragraph)
            continue
        joined: list[str] = []
        for line in lines:
            if joined and not line.startswith("- "):
                joined[-1] += " " + line.strip()
            else:
                joined.append(line.strip())
        out.append("\n".join(joined))
    return "\n\n".join(out)


def _reflow_tree(command: object) -> None:
    """Reflow the help of ``command`` and every command under it (Typer's own click)."""
    text = getattr(command, "help", None)
    if isinstance(text, str) and text:
        first, _, rest = reflow_help(inspect.cleandoc(text)).partition("\n\n")
        # Typer dedents the text after the first paragraph as if its first line were a
        # docstring's: a blank line there keeps the examples' indentation when they are the
        # only indented lines.
        command.help = first + ("\n\n\n" + rest if rest else "")  # type: ignore[attr-defined]
    for sub in getattr(command, "commands", {}).values():
        _reflow_tree(sub)
