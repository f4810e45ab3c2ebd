"""
``gateway iam <operation> [--flags]``: the ``aws iam`` command on the local store.

Operations and flags are derived from the registry (``gateway.iam.operations``):
``CreateUser`` is ``create-user``, ``UserName`` is ``--user-name``, a boolean
``SetAsDefault`` is ``--set-as-default`` / ``--no-set-as-default``, a list takes
several values (``--tag-keys a b``). As with the aws CLI, any value may be
``file://PATH`` to read it from a file, and ``--tags`` takes ``Key=k,Value=v``
pairs or a JSON list. The command acts as the root user of the account
(``--account`` when the store holds several) and prints AWS's response as JSON
(indent 4, nothing for an empty response), ``--output table`` or ``--output text``.

A failed operation prints the aws CLI's line, ``An error occurred (Code) when
calling the Op operation: message``, and exits with status 1.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, cast

from gateway.cli._common import add_account_argument, add_config_argument, open_iam
from gateway.errors import GatewayError
from gateway.iam.operations import OPERATIONS, Operation, Param, invoke

_WORD_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_DEST = "param_"


def kebab(name: str) -> str:
    """
    Return the aws CLI spelling of an AWS name: ``ListMFADevices`` -> ``list-mfa-devices``.
    """
    return _WORD_BOUNDARY.sub("-", name).lower()


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """
    Add ``iam`` and one subcommand per registered operation.
    """
    parser = subparsers.add_parser(
        "iam",
        help="run an AWS IAM operation as the account's root user",
        description="Run AWS IAM operations (the aws CLI's names and flags) on the local store.",
    )
    operations = parser.add_subparsers(dest="operation_name", metavar="OPERATION", required=True)
    common = argparse.ArgumentParser(add_help=False)
    add_config_argument(common)
    add_account_argument(common)
    common.add_argument(
        "--output",
        choices=("json", "table", "text"),
        default="json",
        help="output format (default: json, as the aws CLI prints it)",
    )
    for name in sorted(OPERATIONS):
        operation = OPERATIONS[name]
        sub = operations.add_parser(
            kebab(name),
            parents=[common],
            help=operation.summary,
            description=f"{name}: {operation.summary}.",
        )
        for param in operation.params:
            _add_param(sub, param)
        sub.set_defaults(func=run, operation=operation)


def _add_param(parser: argparse.ArgumentParser, param: Param) -> None:
    flag = f"--{kebab(param.name)}"
    dest = _DEST + param.name
    # Acting as root there is no calling user, so a caller-defaulted name is required.
    required = param.required or param.caller
    help_text = param.help or None
    if param.type == "boolean":
        parser.add_argument(
            flag, dest=dest, action=argparse.BooleanOptionalAction, default=None, help=help_text
        )
    elif param.type == "strings":
        parser.add_argument(
            flag,
            dest=dest,
            nargs="+",
            type=_text,
            required=required,
            metavar="VALUE",
            help=help_text,
        )
    elif param.type == "tags":
        parser.add_argument(
            flag,
            dest=dest,
            nargs="+",
            action=_TagsAction,
            type=_tags,
            required=required,
            metavar="Key=K,Value=V",
            help=f"{help_text}: `Key=k,Value=v ...` or a JSON list",
        )
    else:
        converter: Callable[[str], object] = _integer if param.type == "integer" else _text
        parser.add_argument(
            flag,
            dest=dest,
            type=converter,
            required=required,
            choices=param.choices or None,
            metavar=_metavar(param),
            help=help_text,
        )


def _metavar(param: Param) -> str:
    if param.choices:
        return "{" + ",".join(param.choices) + "}"
    if param.type == "document":
        return "JSON|file://PATH"
    return "N" if param.type == "integer" else "VALUE"


def _text(value: str) -> str:
    """
    Return the value, or the text of the file a ``file://`` value names.
    """
    if not value.startswith("file://"):
        return value
    path = Path(value.removeprefix("file://")).expanduser()
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise argparse.ArgumentTypeError(f"cannot read `{value}`: no such file") from None
    except IsADirectoryError:
        raise argparse.ArgumentTypeError(f"cannot read `{value}`: it is a directory") from None
    except UnicodeDecodeError:
        raise argparse.ArgumentTypeError(f"cannot read `{value}`: not UTF-8 text") from None
    except OSError as exc:
        reason = (exc.strerror or type(exc).__name__).lower()
        raise argparse.ArgumentTypeError(f"cannot read `{value}`: {reason}") from None


def _integer(value: str) -> int:
    text = _text(value).strip()
    if not re.fullmatch(r"-?[0-9]{1,18}", text):
        raise argparse.ArgumentTypeError(f"expected an integer, not `{value}`")
    return int(text)


def _tags(value: str) -> list[dict[str, str]]:
    """
    Parse ``Key=k,Value=v`` (the aws CLI's shorthand) or a JSON list of Key/Value objects.
    """
    text = _text(value).strip()
    if text.startswith("["):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise argparse.ArgumentTypeError(f"invalid JSON: {exc.msg.lower()}") from None
        if not isinstance(data, list) or not all(_is_tag(item) for item in data):
            raise argparse.ArgumentTypeError(
                'expected a JSON list of {"Key": ..., "Value": ...} objects'
            )
        return [{"Key": item["Key"], "Value": item.get("Value", "")} for item in data]
    fields: dict[str, str] = {}
    for part in text.split(","):
        key, sep, item = part.partition("=")
        if not sep or key not in ("Key", "Value") or key in fields:
            raise argparse.ArgumentTypeError(f"expected `Key=k,Value=v`, not `{value}`")
        fields[key] = item
    if "Key" not in fields:
        raise argparse.ArgumentTypeError(f"expected `Key=k,Value=v`, not `{value}`")
    return [{"Key": fields["Key"], "Value": fields.get("Value", "")}]


class _TagsAction(argparse.Action):
    """
    Collect the pairs of every ``--tags`` value (each parses to a list) into one list.
    """

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: object,
        option_string: str | None = None,
    ) -> None:
        pairs: list[dict[str, str]] = list(getattr(namespace, self.dest, None) or [])
        for value in values if isinstance(values, list) else [values]:
            pairs.extend(cast(list[dict[str, str]], value))
        setattr(namespace, self.dest, pairs)


def _is_tag(item: object) -> bool:
    return isinstance(item, dict) and isinstance(item.get("Key"), str)


def params_of(args: argparse.Namespace) -> dict[str, object]:
    """
    Return the operation's parameters given on the command line, by AWS name.
    """
    return {
        key.removeprefix(_DEST): value
        for key, value in vars(args).items()
        if key.startswith(_DEST) and value is not None
    }


def run(args: argparse.Namespace) -> int:
    """
    Run the operation and print its response; 1 with the aws CLI's error line on failure.

    Errors opening the store or the account are not the operation's: they propagate
    to ``main`` and print as ``gateway: error: ...``.
    """
    operation: Operation = args.operation
    try:
        result = asyncio.run(_invoke(args, operation, params_of(args)))
    except OperationFailed as failed:
        print(failed.line, file=sys.stderr)
        return 1
    print_result(result, args.output)
    return 0


class OperationFailed(Exception):
    """
    The operation itself failed; ``line`` is the aws CLI's one-line report.
    """

    def __init__(self, operation: str, error: GatewayError) -> None:
        self.line = (
            f"An error occurred ({error.code}) when calling the {operation} operation: "
            f"{error.message}"
        )
        super().__init__(self.line)
        self.error = error


async def _invoke(
    args: argparse.Namespace, operation: Operation, params: Mapping[str, object]
) -> dict[str, Any]:
    async with open_iam(args) as iam:
        try:
            return await invoke(iam, operation.name, params)
        except GatewayError as exc:
            raise OperationFailed(operation.name, exc) from exc


# --- output -----------------------------------------------------------------------------------


def print_result(result: Mapping[str, Any], output: str) -> None:
    """
    Print a response as ``json`` (the aws CLI's indent 4), ``table`` or ``text``.
    """
    if not result:
        return  # the aws CLI prints nothing for an operation without output
    if output == "json":
        print(json.dumps(result, indent=4, ensure_ascii=False))
    elif output == "table":
        print(render_table(result))
    else:
        print(render_text(result))


def _cell(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return "" if value is None else str(value)


def _aligned(rows: list[list[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]


def render_table(result: Mapping[str, Any]) -> str:
    """
    Render a response for people: one aligned section per top-level member.
    """
    lines: list[str] = []
    scalars = [[key, _cell(value)] for key, value in result.items() if not _is_nested(value)]
    if scalars:
        lines += _aligned(scalars)
    for key, value in result.items():
        if not _is_nested(value):
            continue
        if lines:
            lines.append("")
        lines.append(key)
        if isinstance(value, dict):
            lines += _aligned([[name, _cell(item)] for name, item in value.items()])
        elif value and all(isinstance(item, dict) for item in value):
            columns: list[str] = []
            for item in value:
                columns += [name for name in item if name not in columns]
            rows = [columns] + [[_cell(item.get(name)) for name in columns] for item in value]
            lines += _aligned(rows)
        elif value:
            lines += [_cell(item) for item in value]
        else:
            lines.append("(none)")
    return "\n".join(lines)


def _is_nested(value: object) -> bool:
    return isinstance(value, dict | list)


def render_text(result: Mapping[str, Any]) -> str:
    """
    Render a response as the aws CLI's text output: one tab-separated line per item,
    led by the member name in capitals, values in the order of their sorted keys.
    """
    lines: list[str] = []
    for key, value in result.items():
        label = key.upper()
        if isinstance(value, dict):
            lines.append("\t".join([label] + [_cell(value[k]) for k in sorted(value)]))
        elif isinstance(value, list) and all(isinstance(item, dict) for item in value):
            for item in value:
                lines.append("\t".join([label] + [_cell(item[k]) for k in sorted(item)]))
        elif isinstance(value, list):
            lines.append("\t".join([label] + [_cell(item) for item in value]))
        else:
            lines.append(f"{label}\t{_cell(value)}")
    return "\n".join(lines)
