"""Reading lint sources: ``.sql`` files and the ```` ```sql ```` blocks of Markdown files.

Statements keep the line numbers of the file they come from, so every finding can say
``file:line``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from lms_db.errors import InputError

#: File suffixes lint reads.
SUFFIXES = (".sql", ".md")

#: ``--`` starts a comment only when followed by whitespace (or the end): ``1--1`` is 2.
_DASH_FOLLOW = ("", " ", "\t", "\n", "\r")
_DOLLAR = re.compile(r"\$(?:[A-Za-z_][A-Za-z_0-9]*)?\$")
_FENCE = re.compile(r"^\s{0,3}(?P<fence>`{3,}|~{3,})\s*(?P<info>[^\s`]*)")


@dataclass(frozen=True)
class Chunk:
    """SQL text and the 1-based line of its first character in ``path``."""

    path: str
    text: str
    first_line: int


@dataclass(frozen=True)
class RawStatement:
    """One statement: its text (no ``;``), the line of its first character and of its
    first significant (non-blank, non-comment) character."""

    text: str
    first_line: int
    line: int


def collect_files(paths: list[Path]) -> list[Path]:
    """Check every path before anything is read; directories give their .sql/.md files.

    :raises InputError: a path is missing, unreadable, or not a ``.sql``/``.md`` file.
    """
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.suffix in SUFFIXES and p.is_file())
            if not found:
                raise InputError(f"{path}: directory holds no .sql or .md file to lint")
            files.extend(found)
        elif not path.exists():
            raise InputError(f"{path}: no such file; pass .sql or .md files (or a directory)")
        elif path.suffix.lower() not in SUFFIXES:
            raise InputError(f"{path}: lint reads .sql and .md files only, not {path.suffix!r}")
        else:
            files.append(path)
    for path in files:
        try:
            with path.open("rb"):
                pass
        except OSError as exc:
            raise InputError(f"{path}: cannot read it ({exc.strerror or exc})") from exc
    return files


def read_chunks(path: Path) -> list[Chunk]:
    """The SQL of one file: the whole of a ``.sql`` file, the sql blocks of a ``.md`` file.

    :raises InputError: the file cannot be read or is not UTF-8 text.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 text ({exc.reason})") from exc
    except OSError as exc:
        raise InputError(f"{path}: cannot read it ({exc.strerror or exc})") from exc
    if path.suffix.lower() == ".md":
        return list(markdown_sql_blocks(str(path), text))
    return [Chunk(str(path), text, 1)]


def markdown_sql_blocks(path: str, text: str) -> Iterator[Chunk]:
    """Yield the fenced code blocks whose info string is ``sql`` (any case)."""
    lines = text.splitlines(keepends=True)
    i = 0
    while i < len(lines):
        match = _FENCE.match(lines[i])
        if not match:
            i += 1
            continue
        fence, info = match.group("fence"), match.group("info").lower()
        body_start = i + 1
        j = body_start
        while j < len(lines) and not lines[j].strip().startswith(fence):
            j += 1
        if info == "sql":
            yield Chunk(path, "".join(lines[body_start:j]), body_start + 1)
        i = j + 1


def mask(text: str, *, keep_versioned: bool = False, postgres: bool = False) -> str:
    """``text`` with comments blanked and string contents replaced by ``x``.

    The result has the same length and line breaks, so offsets and line numbers hold;
    structural scans (semicolons, parentheses, keywords) can run on it safely.
    ``keep_versioned`` keeps the executable comments (``/*!...*/``) as they are;
    ``postgres`` reads PostgreSQL's lexis (``$tag$...$tag$`` strings, no ``#`` comments).
    """
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        nxt = text[i + 1] if i + 1 < n else ""
        dash_follow = postgres or text[i + 2 : i + 3] in _DASH_FOLLOW
        dash_comment = ch == "-" and nxt == "-" and dash_follow
        dollar = _DOLLAR.match(text, i) if postgres and ch == "$" else None
        if dollar:
            end = text.find(dollar.group(), dollar.end())
            end = n if end < 0 else end + len(dollar.group())
            out.append("".join(c if c == "\n" else "x" for c in text[i:end]))
            i = end
        elif dash_comment or (ch == "#" and not postgres):
            end = text.find("\n", i)
            end = n if end < 0 else end
            out.append(" " * (end - i))
            i = end
        elif ch == "/" and nxt == "*":
            end = text.find("*/", i + 2)
            end = n if end < 0 else end + 2
            if keep_versioned and (text[i + 2 : i + 3] == "!" or text[i + 2 : i + 4] == "M!"):
                out.append(text[i : i + 2])
                i += 2
                continue
            out.append("".join(c if c == "\n" else " " for c in text[i:end]))
            i = end
        elif ch in "'\"`":
            j, closed = i + 1, False
            while j < n:
                escaped = text[j] == "\\" and ch != "`"
                doubled = text[j] == ch and j + 1 < n and text[j + 1] == ch
                if escaped or doubled:
                    j += 2
                elif text[j] == ch:
                    closed = True
                    break
                else:
                    j += 1
            inner_end = j if closed else n
            inner = "".join(c if c == "\n" else "x" for c in text[i + 1 : inner_end])
            out.append(ch + inner + (ch if closed else ""))
            i = inner_end + 1 if closed else n
        else:
            out.append(ch)
            i += 1
    return "".join(out)


_VERSIONED = re.compile(r"/\*(?P<mariadb>M?)!(?P<version>\d{5,6})?")
_DELIMITER = re.compile(r"^[ \t]*DELIMITER[ \t]+(?P<token>\S+)[^\n]*", re.I | re.M)


def expand_versioned(text: str, version: int, mariadb: bool) -> str:
    """Open the executable comments the server of ``version`` runs, same length and lines.

    MySQL runs ``/*!NNNNN ...*/`` when NNNNN <= its version and ignores ``/*M!...*/``;
    MariaDB also runs ``/*M!NNNNNN ...*/``, but skips 5-digit versions from 50700 on
    (MySQL 5.7+ only features; checked on MariaDB 10.11).  Comment text that is run
    becomes plain SQL (markers blanked); the rest stays a comment.
    """
    out: list[str] = []
    masked = mask(text, keep_versioned=True)
    pos = 0
    for match in _VERSIONED.finditer(masked):
        if match.start() < pos:
            continue
        end = masked.find("*/", match.end())
        if end < 0:
            break
        if _runs(match.group("version"), bool(match.group("mariadb")), version, mariadb):
            out += [text[pos : match.start()], " " * (match.end() - match.start())]
            out += [text[match.end() : end], "  "]
            pos = end + 2
    out.append(text[pos:])
    return "".join(out)


def _runs(raw: str | None, m_only: bool, version: int, mariadb: bool) -> bool:
    if m_only and not mariadb:
        return False
    if raw is None:
        return True
    wanted = int(raw)
    if mariadb and len(raw) == 5 and wanted >= 50700:
        return False
    return wanted <= version


def split_statements(chunk: Chunk, *, postgres: bool = False) -> Iterator[RawStatement]:
    """Split a chunk on top-level ``;``, or the token of the last ``DELIMITER`` line
    (``DELIMITER ;;`` around triggers and procedures); blank or comment-only pieces and
    the DELIMITER lines themselves are dropped.  ``postgres``: PostgreSQL lexis (dollar
    quotes), no DELIMITER."""
    masked = mask(chunk.text, postgres=postgres)
    cuts: list[tuple[int, int]] = []  # (start of a statement end, where the next begins)
    delimiter, pos = ";", 0
    for line in () if postgres else _DELIMITER.finditer(masked):
        cuts += _ends(masked, delimiter, pos, line.start())
        cuts.append((line.start(), line.end()))
        delimiter, pos = line.group("token"), line.end()
    cuts += _ends(masked, delimiter, pos, len(masked))
    cuts.append((len(masked), len(masked)))
    start = 0
    for end, resume in cuts:
        piece = chunk.text[start:end]
        body = masked[start:end]
        stripped = body.lstrip()
        if stripped:
            first_line = chunk.first_line + chunk.text.count("\n", 0, start)
            lead = len(body) - len(stripped)
            line_no = first_line + body.count("\n", 0, lead)
            yield RawStatement(piece, first_line, line_no)
        start = resume


def _ends(masked: str, delimiter: str, start: int, stop: int) -> list[tuple[int, int]]:
    cuts, pos = [], masked.find(delimiter, start, stop)
    while pos >= 0:
        cuts.append((pos, pos + len(delimiter)))
        pos = masked.find(delimiter, pos + len(delimiter), stop)
    return cuts
