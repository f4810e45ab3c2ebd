"""
The text operator families: `String*`, `StringLike`/`StringNotLike` and `Arn*`.

Layer: ``gateway.policy`` (pure). Imports nothing from the rest of the gateway.

These are the families that accept policy variables (IAM User Guide, "Condition
operators"), so each builder splits its values into plain text, matched through a
set or one regular expression compiled once, and templates, resolved per request
and matched without compiling anything.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from .matching import (
    STAR,
    Part,
    Scalar,
    Template,
    Values,
    Var,
    compile_regex,
    glob_tokens,
    parse_template,
    split_arn,
    stringify,
)
from .operands import Test

__all__ = ["build_arn", "build_like", "build_string", "build_string_ic"]


def _templates(raw: Sequence[str], use_vars: bool) -> tuple[list[str], list[Template]]:
    plain: list[str] = []
    templates: list[Template] = []
    for value in raw:
        template = parse_template(value, variables=use_vars)
        if template is None:
            plain.append(value)
        else:
            templates.append(template)
    return plain, templates


def _as_text(value: Scalar) -> str:
    return value if isinstance(value, str) else stringify(value)


def build_string(raw: Sequence[str], _cmp: str, use_vars: bool) -> Test:
    plain, templates = _templates(raw, use_vars)
    static = frozenset(plain)
    if not templates:
        return lambda value, _ctx: _as_text(value) in static

    def test(value: Scalar, context: Values) -> bool:
        text = _as_text(value)
        if text in static:
            return True
        return any(t.text(context) == text for t in templates)

    return test


def build_string_ic(raw: Sequence[str], _cmp: str, use_vars: bool) -> Test:
    plain, templates = _templates(raw, use_vars)
    static = frozenset(v.lower() for v in plain)

    def test(value: Scalar, context: Values) -> bool:
        text = _as_text(value).lower()
        if text in static:
            return True
        for template in templates:
            resolved = template.text(context)
            if resolved is not None and resolved.lower() == text:
                return True
        return False

    return test


def build_like(raw: Sequence[str], _cmp: str, use_vars: bool) -> Test:
    plain, templates = _templates(raw, use_vars)
    regex = compile_regex([glob_tokens(v) for v in plain]) if plain else None

    def test(value: Scalar, context: Values) -> bool:
        text = _as_text(value)
        if regex is not None and regex.fullmatch(text) is not None:
            return True
        for template in templates:
            glob = template.glob(context)
            if glob is not None and glob.matches(text):
                return True
        return False

    return test


def _arn_regex(values: Sequence[str]) -> re.Pattern[str]:
    alternatives = []
    for value in values:
        pieces = []
        for index, part in enumerate(value.split(":", 5)):
            last = index == 5
            for tok in glob_tokens(part):
                if isinstance(tok, str):
                    pieces.append(re.escape(tok))
                elif tok == STAR:
                    pieces.append(".*" if last else "[^:]*")
                else:
                    pieces.append(("." if last else "[^:]") * tok)
            if not last:
                pieces.append(":")
        alternatives.append("(?:" + "".join(pieces).removesuffix(":") + ")")
    return re.compile("|".join(alternatives), re.DOTALL)


def _check_arn(value: str) -> None:
    if value != "*" and split_arn(value) is None:
        raise ValueError(f"`{value}` is not an ARN")


def _split_template(template: Template) -> tuple[Template, ...] | None:
    """Split an ARN template into its six component templates at the written colons."""
    components: list[list[Part]] = [[]]
    for part in template.parts:
        if isinstance(part, str) and len(components) < 6:
            pieces = part.split(":", 6 - len(components))
            components[-1].append(pieces[0])
            components.extend([piece] for piece in pieces[1:])
        else:
            components[-1].append(part)
    if len(components) != 6 or components[0] != ["arn"]:
        return None
    return tuple(
        Template(tuple(c), tuple(p.name for p in c if isinstance(p, Var))) for c in components
    )


def build_arn(raw: Sequence[str], _cmp: str, use_vars: bool) -> Test:
    plain, templates = _templates(raw, use_vars)
    for value in plain:
        _check_arn(value)
    split: list[tuple[Template, ...]] = []
    for template in templates:
        components = _split_template(template)
        if components is None:
            raise ValueError(f"`{''.join(map(str, raw))}` is not an ARN")
        split.append(components)
    anything = "*" in plain
    regex = _arn_regex([v for v in plain if v != "*"]) if plain else None

    def test(value: Scalar, context: Values) -> bool:
        text = _as_text(value)
        if anything or (regex is not None and regex.fullmatch(text) is not None):
            return True
        if not split:
            return False
        actual = split_arn(text)
        if actual is None:
            return False
        for components in split:
            # Each component matches on its own, so `*` never crosses a `:` except in
            # the resource part; substituted values are literal text.
            for component, part in zip(components, actual, strict=True):
                glob = component.glob(context)
                if glob is None or not glob.matches(part):
                    break
            else:
                return True
        return False

    return test
