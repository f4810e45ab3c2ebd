"""
The policy engine's own small exception tree, its validation findings, and the two
helpers that word parse errors (`malformed`, `did_you_mean`).

Layer: ``gateway.policy`` (pure). Imports nothing from the rest of the gateway;
the edge maps these errors onto ``gateway.errors.InvalidInput``::

    PolicyError              .path (JSON path such as `Statement[2].Effect`), .message, .code
      MalformedPolicy        the document breaks the grammar (IAM's MalformedPolicyDocument)
        PolicyTooLarge       the document is over the size limit (IAM's LimitExceeded)
      InvalidSimulation      a simulation request is not shaped like SimulateCustomPolicy's
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

__all__ = ["Finding", "InvalidSimulation", "MalformedPolicy", "PolicyError", "PolicyTooLarge"]


class PolicyError(Exception):
    """
    A policy document could not be accepted.

    Attributes:
        path: where in the document the problem is (`Statement[0].Action`), or "".
        message: what is wrong, lowercase, user input in backticks, no final period.
        code: the AWS error code a client would see.
    """

    code = "MalformedPolicyDocument"

    def __init__(self, message: str, path: str = "") -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path
        self.message = message


class MalformedPolicy(PolicyError):
    """
    The document breaks the IAM JSON policy grammar.
    """


class PolicyTooLarge(MalformedPolicy):
    """
    The document, counted without whitespace as AWS does, is over the size limit.
    """

    code = "LimitExceeded"


class InvalidSimulation(PolicyError):
    """
    A simulation request is not shaped like IAM's SimulateCustomPolicy request.
    """

    code = "InvalidInput"


def malformed(path: str, message: str) -> MalformedPolicy:
    """A `MalformedPolicy` at the JSON `path` ("" for the document itself)."""
    return MalformedPolicy(message, path)


def did_you_mean(word: str, choices: Sequence[str]) -> str:
    """`: did you mean `X`?` for a choice equal up to case or close to `word`, else ""."""
    lowered = {c.lower(): c for c in choices}
    if word.lower() in lowered:
        return f": did you mean `{lowered[word.lower()]}`?"
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f": did you mean `{close[0]}`?" if close else ""


@dataclass(frozen=True, slots=True)
class Finding:
    """
    One validation result, in the spirit of IAM Access Analyzer's policy checks.

    Attributes:
        level: "error" for a document IAM would reject, "warning" for a risky one.
        path: JSON path of the element, such as `Statement[1].Condition.StringLike`.
        message: what is wrong and, when known, how to fix it.
        code: a stable identifier such as `ALLOW_WITH_NOT_ACTION`.
    """

    level: Literal["error", "warning"]
    path: str
    message: str
    code: str

    def __str__(self) -> str:
        where = f"{self.path}: " if self.path else ""
        return f"{self.level}: {where}{self.message}"
