"""
Wildcard matching, ARNs and policy variables.

Layer: ``gateway.policy`` (pure). Imports nothing from the rest of the gateway.

AWS matches `*` (any run of characters, possibly empty) and `?` (exactly one
character) anywhere, across `:` and `/`. A pattern without variables is compiled
once into a regular expression; a pattern with policy variables is resolved per
request into tokens and matched by a small glob matcher, so no regular expression
is ever compiled on the request path.

Tokens: a pattern is a tuple of `str` (literal text) and `int` (`0` is `*`, a
positive `k` is `k` consecutive `?`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

__all__ = [
    "STAR",
    "Glob",
    "Lit",
    "Template",
    "Var",
    "compile_regex",
    "glob_tokens",
    "parse_template",
    "split_arn",
    "stringify",
]

STAR = 0
Token = str | int
Scalar = str | int | float | bool | datetime | bytes


def glob_tokens(text: str) -> list[Token]:
    """
    Split pattern text into tokens, merging runs of `?` and literals.
    """
    tokens: list[Token] = []
    start = 0
    for i, ch in enumerate(text):
        if ch == "*" or ch == "?":
            if i > start:
                tokens.append(text[start:i])
            if ch == "*":
                if not tokens or tokens[-1] != STAR:
                    tokens.append(STAR)
            elif tokens and isinstance(tokens[-1], int) and tokens[-1] > 0:
                tokens[-1] += 1
            else:
                tokens.append(1)
            start = i + 1
    if start < len(text):
        tokens.append(text[start:])
    return tokens


def _push_chunk(tokens: list[str | int | Var], tok: Token) -> None:
    if isinstance(tok, str) and tokens and isinstance(tokens[-1], str):
        tokens[-1] += tok
    else:
        tokens.append(tok)


def compile_regex(patterns: Sequence[Sequence[Token]]) -> re.Pattern[str]:
    """
    Compile token patterns into one anchored alternation for `fullmatch`.
    """
    alternatives = []
    for tokens in patterns:
        parts = []
        for tok in tokens:
            if isinstance(tok, str):
                parts.append(re.escape(tok))
            elif tok == STAR:
                parts.append(".*")
            else:
                parts.append("." * tok)
        alternatives.append("(?:" + "".join(parts) + ")")
    return re.compile("|".join(alternatives), re.DOTALL)


Segment = tuple[Token, ...]


def _seg_len(seg: Segment) -> int:
    return sum(len(c) if isinstance(c, str) else c for c in seg)


def _match_at(text: str, pos: int, seg: Segment) -> bool:
    for chunk in seg:
        if isinstance(chunk, str):
            if not text.startswith(chunk, pos):
                return False
            pos += len(chunk)
        else:
            pos += chunk
    return pos <= len(text)


def _find(text: str, start: int, end: int, seg: Segment, seglen: int) -> int:
    """Leftmost position `p` in `[start, end - seglen]` where `seg` matches, or -1."""
    offset = 0
    anchor = ""
    for chunk in seg:
        if isinstance(chunk, str):
            if chunk:
                anchor = chunk
                break
            continue
        offset += chunk
    last = end - seglen
    if not anchor:
        return start if start <= last else -1
    q = text.find(anchor, start + offset, end)
    while q != -1 and q - offset <= last:
        if _match_at(text, q - offset, seg):
            return q - offset
        q = text.find(anchor, q + 1, end)
    return -1


@dataclass(frozen=True, slots=True)
class Glob:
    """
    A wildcard pattern split on `*` into segments, matched without regular expressions.

    Attributes:
        segments: the pieces between stars; each is literal text and `?` runs.
        starred: False when the pattern has no `*` (one segment must match exactly).
    """

    segments: tuple[Segment, ...]
    starred: bool

    @classmethod
    def from_tokens(cls, tokens: Sequence[Token]) -> Glob:
        """Build a matcher from tokens."""
        segments: list[Segment] = []
        current: list[Token] = []
        starred = False
        for tok in tokens:
            if tok == STAR:
                starred = True
                segments.append(tuple(current))
                current = []
            else:
                current.append(tok)
        segments.append(tuple(current))
        return cls(tuple(segments), starred)

    def matches(self, text: str) -> bool:
        """Return True when the whole of `text` matches the pattern."""
        return match_segments(self.segments, self.starred, text)


def match_segments(segments: Sequence[Segment], starred: bool, text: str) -> bool:
    """Match `text` against segments split on `*` (leftmost-greedy, no backtracking needed)."""
    if not starred:
        seg = segments[0]
        return _seg_len(seg) == len(text) and _match_at(text, 0, seg)
    first, last = segments[0], segments[-1]
    first_len, last_len = _seg_len(first), _seg_len(last)
    if first_len + last_len > len(text):
        return False
    if not _match_at(text, 0, first):
        return False
    end = len(text) - last_len
    if not _match_at(text, end, last):
        return False
    pos = first_len
    for seg in segments[1:-1]:
        seglen = _seg_len(seg)
        found = _find(text, pos, end, seg, seglen)
        if found < 0:
            return False
        pos = found + seglen
    return True


def split_arn(text: str) -> tuple[str, str, str, str, str, str] | None:
    """
    Split `arn:partition:service:region:account:resource` into its six components.

    Returns:
        The components, or None when `text` is not shaped like an ARN.
    """
    parts = text.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn":
        return None
    return (parts[0], parts[1], parts[2], parts[3], parts[4], parts[5])


def stringify(value: Scalar) -> str:
    """Render a context value the way it is substituted into a policy."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


@dataclass(frozen=True, slots=True)
class Lit:
    """Text that is always literal, even in a `...Like` pattern (`${*}`, a variable value)."""

    text: str


@dataclass(frozen=True, slots=True)
class Var:
    """
    A policy variable such as `${aws:username}` or `${aws:PrincipalTag/team, 'none'}`.

    Attributes:
        name: the key as written.
        key: the key lowercased, for case-insensitive lookup.
        default: the value to use when the key is missing, or None.
    """

    name: str
    key: str
    default: str | None


Part = str | Lit | Var
Values = Mapping[str, tuple[Scalar, ...]]

_SPECIAL = {"*": "*", "?": "?", "$": "$"}
_KEY = re.compile(r"[A-Za-z0-9:/_.@+=,\-]+")
_DEFAULT = re.compile(r"'([^']*)'")


@dataclass(frozen=True, slots=True)
class Template:
    """
    Pattern text with policy variables, parsed once.

    Attributes:
        parts: raw text (whose `*` and `?` are wildcards), literals and variables.
        keys: the variable keys as written, for missing-context reports.
    """

    parts: tuple[Part, ...]
    keys: tuple[str, ...]
    segments: tuple[tuple[str | int | Var, ...], ...] = field(default=(), compare=False)
    starred: bool = field(default=False, compare=False)

    def __post_init__(self) -> None:
        """Split the pattern on its written `*` once; variable values never add wildcards."""
        tokens: list[str | int | Var] = []
        for part in self.parts:
            if isinstance(part, str):
                for tok in glob_tokens(part):
                    _push_chunk(tokens, tok)
            elif isinstance(part, Lit):
                _push_chunk(tokens, part.text)
            else:
                tokens.append(part)
        segments: list[tuple[str | int | Var, ...]] = []
        current: list[str | int | Var] = []
        for item in tokens:
            if isinstance(item, int) and item == STAR:
                segments.append(tuple(current))
                current = []
            else:
                current.append(item)
        segments.append(tuple(current))
        object.__setattr__(self, "segments", tuple(segments))
        object.__setattr__(self, "starred", len(segments) > 1)

    def resolve(self, values: Values, missing: list[str] | None = None) -> list[str | Lit] | None:
        """
        Substitute variables from the request context.

        Returns:
            Raw text and literals, or None when a variable without a default is
            missing or has several values: AWS then treats the element as not matching.
        """
        out: list[str | Lit] = []
        for part in self.parts:
            if isinstance(part, Var):
                found = values.get(part.key)
                if found is not None and len(found) == 1:
                    out.append(Lit(stringify(found[0])))
                elif part.default is not None and not found:
                    out.append(Lit(part.default))
                else:
                    if missing is not None and not found:
                        missing.append(part.name)
                    return None
            else:
                out.append(part)
        return out

    def text(self, values: Values, missing: list[str] | None = None) -> str | None:
        """Resolve to plain text, every character literal."""
        resolved = self.resolve(values, missing)
        if resolved is None:
            return None
        return "".join(
            p.text if isinstance(p, Lit) else p for p in resolved if not isinstance(p, Var)
        )

    def glob(self, values: Values, missing: list[str] | None = None) -> Glob | None:
        """Resolve to a wildcard matcher where only the raw text carries wildcards."""
        segments = self._substitute(values, missing)
        return None if segments is None else Glob(segments, self.starred)

    def matches(self, text: str, values: Values, missing: list[str] | None = None) -> bool:
        """Resolve and match in one step; False when a variable cannot be resolved."""
        segments = self._substitute(values, missing)
        return segments is not None and match_segments(segments, self.starred, text)

    def _substitute(self, values: Values, missing: list[str] | None) -> tuple[Segment, ...] | None:
        """The segments with variable values as literal text; None when one is unresolved."""
        segments: list[Segment] = []
        for seg in self.segments:
            out: list[Token] = []
            for chunk in seg:
                if isinstance(chunk, Var):
                    found = values.get(chunk.key)
                    if found is not None and len(found) == 1:
                        value = found[0]
                        out.append(value if isinstance(value, str) else stringify(value))
                    elif chunk.default is not None and not found:
                        out.append(chunk.default)
                    else:
                        if missing is not None and not found:
                            missing.append(chunk.name)
                        return None
                else:
                    out.append(chunk)
            segments.append(tuple(out))
        return tuple(segments)


def parse_template(text: str, *, variables: bool) -> Template | None:
    """
    Parse `${...}` policy variables out of `text`.

    Args:
        text: the element value.
        variables: True under Version 2012-10-17; otherwise `${...}` is literal text.

    Returns:
        A template when `text` holds at least one variable, else None (plain text).

    Raises:
        ValueError: a `${...}` whose key or default value is not well formed.
    """
    if not variables or "${" not in text:
        return None
    parts: list[Part] = []
    keys: list[str] = []
    pos = 0
    while True:
        start = text.find("${", pos)
        close = text.find("}", start + 2) if start >= 0 else -1
        if start < 0 or close < 0:
            break
        if start > pos:
            parts.append(text[pos:start])
        body = text[start + 2 : close]
        pos = close + 1
        if body in _SPECIAL:
            parts.append(Lit(_SPECIAL[body]))
            continue
        name, comma, rest = body.partition(",")
        name = name.strip()
        default: str | None = None
        if comma:
            match = _DEFAULT.fullmatch(rest.strip())
            if match is None:
                raise ValueError(f"invalid default in policy variable `${{{body}}}`")
            default = match.group(1)
        if not _KEY.fullmatch(name) or ":" not in name:
            raise ValueError(f"invalid policy variable `${{{body}}}`")
        parts.append(Var(name, name.lower(), default))
        keys.append(name)
    if pos < len(text):
        parts.append(text[pos:])
    # A template of `${*}`-style escapes only is still a template: they stay literal.
    return Template(tuple(parts), tuple(keys))
