"""A MySQL tokenizer and token cursor for lint's own DDL parser.

sqlglot gives up on much of what MySQL and MariaDB accept in ``CREATE TABLE`` (partition
definitions, ``SRID``, ``IGNORED``, ``INVISIBLE``...), so the DDL the rules need is read
from these tokens instead.  Offsets point into the statement text, so every element can
say which line it is on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_TOKEN = re.compile(
    r"""
    (?P<space>\s+|--(?:[ \t][^\n]*)?(?=\n|$)|\#[^\n]*|/\*.*?\*/)
  | (?P<quoted>`(?:[^`]|``)*`)
  | (?P<string>[nN]?'(?:[^'\\]|\\.|'')*'|"(?:[^"\\]|\\.|"")*")
  | (?P<number>0x[0-9a-fA-F]+|\d+(?:\.\d*)?(?:[eE][-+]?\d+)?|\.\d+)
  | (?P<word>[A-Za-z_$@][\w$@]*)
  | (?P<punct><=>|<=|>=|<>|!=|\|\||&&|<<|>>|:=|.)
    """,
    re.X | re.S,
)


class DdlSyntaxError(Exception):
    """The statement is not DDL this parser understands (the caller falls back)."""


@dataclass(frozen=True)
class Token:
    """A token: ``text`` as written (a quoted identifier unquoted), its kind, its offset."""

    text: str
    kind: str  # word, quoted, string, number, punct
    start: int
    end: int

    @property
    def upper(self) -> str:
        """The upper-cased text of a bare word; empty for everything else."""
        return self.text.upper() if self.kind == "word" else ""

    @property
    def is_name(self) -> bool:
        return self.kind in ("word", "quoted")


def tokenize(text: str) -> list[Token]:
    """Every significant token of ``text`` (comments and blanks dropped)."""
    tokens: list[Token] = []
    for match in _TOKEN.finditer(text):
        kind = match.lastgroup or "punct"
        if kind == "space":
            continue
        raw = match.group()
        value = raw[1:-1].replace("``", "`") if kind == "quoted" else raw
        tokens.append(Token(value, kind, match.start(), match.end()))
    return tokens


class Cursor:
    """A position in a token list with the small moves a recursive-descent parser needs."""

    def __init__(self, tokens: list[Token], text: str) -> None:
        self.tokens = tokens
        self.text = text
        self.pos = 0

    def peek(self, ahead: int = 0) -> Token | None:
        i = self.pos + ahead
        return self.tokens[i] if i < len(self.tokens) else None

    def at(self, *words: str) -> bool:
        """True when the next tokens are these words (or punctuation), in order."""
        for i, word in enumerate(words):
            tok = self.peek(i)
            if tok is None or (tok.upper or tok.text) != word:
                return False
        return True

    def accept(self, *words: str) -> bool:
        if self.at(*words):
            self.pos += len(words)
            return True
        return False

    def expect(self, *words: str) -> None:
        if not self.accept(*words):
            tok = self.peek()
            near = tok.text if tok else "end of statement"
            raise DdlSyntaxError(f"expected {' '.join(words)} near {near!r}")

    def next(self) -> Token:
        tok = self.peek()
        if tok is None:
            raise DdlSyntaxError("unexpected end of statement")
        self.pos += 1
        return tok

    def name(self) -> str:
        """An identifier (``db.tbl`` gives ``tbl``), lower case."""
        tok = self.next()
        if not tok.is_name:
            raise DdlSyntaxError(f"expected a name near {tok.text!r}")
        while self.at(".") and (nxt := self.peek(1)) is not None and nxt.is_name:
            self.pos += 1
            tok = self.next()
        return tok.text.lower()

    def done(self) -> bool:
        return self.pos >= len(self.tokens)

    def group(self) -> tuple[int, int]:
        """Consume a balanced ``( ... )``; return the offsets of its inside."""
        self.expect("(")
        open_tok = self.tokens[self.pos - 1]
        depth = 1
        while depth:
            tok = self.next()
            if tok.kind == "punct":
                depth += {"(": 1, ")": -1}.get(tok.text, 0)
        return open_tok.end, self.tokens[self.pos - 1].start

    def group_items(self) -> list[tuple[int, int]]:
        """Consume ``( a, b, ... )``; return the offsets of each top-level item."""
        self.expect("(")
        items: list[tuple[int, int]] = []
        start, depth = self.tokens[self.pos - 1].end, 1
        while True:
            tok = self.next()
            if tok.kind != "punct":
                continue
            if tok.text == "(":
                depth += 1
            elif tok.text == ")":
                depth -= 1
                if depth == 0:
                    items.append((start, tok.start))
                    return [(a, b) for a, b in items if self.text[a:b].strip()]
            elif tok.text == "," and depth == 1:
                items.append((start, tok.start))
                start = tok.end

    def skip_to_item_end(self) -> None:
        """Move to the next top-level ``,`` or ``)`` (not consumed)."""
        depth = 0
        while (tok := self.peek()) is not None:
            if tok.kind == "punct":
                if tok.text == "(":
                    depth += 1
                elif tok.text == ")":
                    if depth == 0:
                        return
                    depth -= 1
                elif tok.text == "," and depth == 0:
                    return
            self.pos += 1

    def integer(self) -> int:
        tok = self.next()
        if tok.kind != "number" or not tok.text.isdigit():
            raise DdlSyntaxError(f"expected a number near {tok.text!r}")
        return int(tok.text)

    def source(self, start: int, end: int) -> str:
        """The statement text between two offsets, blanks collapsed."""
        return " ".join(self.text[start:end].split())
