"""
Where each statement sits in the source text, for `StartPosition`/`EndPosition`.

Layer: ``gateway.policy`` (pure). Imports nothing from the rest of the gateway.
"""

from __future__ import annotations

import bisect
import json

__all__ = ["Position", "Span", "statement_spans"]

Position = tuple[int, int]  # (line, column), both from 1
Span = tuple[Position, Position]

_WHITESPACE = " \t\n\r"


def _skip(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in _WHITESPACE:
        pos += 1
    return pos


def _position(starts: list[int], offset: int) -> Position:
    line = bisect.bisect_right(starts, offset)
    return line, offset - starts[line - 1] + 1


def _line_starts(text: str) -> list[int]:
    starts = [0]
    pos = text.find("\n")
    while pos >= 0:
        starts.append(pos + 1)
        pos = text.find("\n", pos + 1)
    return starts


def statement_spans(text: str) -> list[Span] | None:
    """
    The (start, end) of each statement of an already valid policy document.

    The end position is the statement's last character, as the IAM policy
    simulator reports it. Returns None when the layout cannot be followed.
    """
    decoder = json.JSONDecoder()
    try:
        pos = _skip(text, 0)
        if text[pos] != "{":
            return None
        pos = _skip(text, pos + 1)
        while pos < len(text) and text[pos] != "}":
            key, pos = decoder.raw_decode(text, pos)
            pos = _skip(text, pos)
            pos = _skip(text, pos + 1)  # the colon
            if key == "Statement":
                return _spans(text, pos, decoder)
            _, pos = decoder.raw_decode(text, pos)
            pos = _skip(text, pos)
            if text[pos] == ",":
                pos = _skip(text, pos + 1)
    except (ValueError, IndexError):
        return None
    return None


def _spans(text: str, pos: int, decoder: json.JSONDecoder) -> list[Span]:
    starts = _line_starts(text)
    if text[pos] == "{":
        _, end = decoder.raw_decode(text, pos)
        return [(_position(starts, pos), _position(starts, end - 1))]
    spans: list[Span] = []
    pos = _skip(text, pos + 1)
    while text[pos] != "]":
        _, end = decoder.raw_decode(text, pos)
        spans.append((_position(starts, pos), _position(starts, end - 1)))
        pos = _skip(text, end)
        if text[pos] == ",":
            pos = _skip(text, pos + 1)
    return spans
