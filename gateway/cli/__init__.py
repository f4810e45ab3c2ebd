"""
The ``gateway`` command: argparse subcommands, one-line errors, exit codes.

Commands: ``init``, ``migrate``, ``demo``, ``serve``, ``iam``, ``apply``, ``export``, ``policy`` and
``workload``; each module adds its own with ``register(subparsers)`` and sets ``func(args) ->
int``. Whatever goes wrong ends as one line on stderr, never a traceback:

    0    success
    1    an operation failed (``An error occurred (NoSuchEntity) when calling the
         GetUser operation: ...``) or an input file is invalid
    2    usage or configuration error (``gateway: error: ...``)
    70   internal error (a bug); ``GATEWAY_DEBUG=1`` shows the traceback
    130  interrupted (Ctrl-C)

The outermost layer: it may import anything of the gateway.
"""

from __future__ import annotations

import argparse
import difflib
import os
import re
import sys
from typing import NoReturn, cast

from gateway import __version__
from gateway.errors import ConfigError, GatewayError

_INVALID_CHOICE = re.compile(r"argument ([^:]+): invalid choice: '?([^' ]*)'? \(choose from (.*)\)")
_CHOICE = re.compile(r"'([^']*)'")

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 70  # sysexits.h EX_SOFTWARE
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report it


class UsageError(Exception):
    """
    The command line is wrong in a way argparse cannot see; exit status 2.
    """


class _Parser(argparse.ArgumentParser):
    """
    An argparse parser whose errors are one line: ``gateway: error: <command>: <message>``.
    """

    def error(self, message: str) -> NoReturn:
        command = self.prog.removeprefix("gateway").strip()
        context = f"{command}: " if command else ""
        invalid = _INVALID_CHOICE.match(message)
        if invalid:
            # argparse lists every choice (80 IAM operations); name the closest instead.
            argument, word, listed = invalid.groups()
            choices = _CHOICE.findall(listed) or [c.strip() for c in listed.split(",")]
            close = difflib.get_close_matches(word, choices, n=1)
            if argument.startswith("-"):
                expected = ", ".join(f"`{c}`" for c in choices)
                message = f"argument {argument}: invalid value `{word}`; expected one of {expected}"
            else:
                message = f"unknown command `{word}`"
                message += f"; did you mean `{close[0]}`?" if close else ""
        hint = f" (see `{self.prog} --help`)"
        self.exit(EXIT_USAGE, f"gateway: error: {context}{message}{hint}\n")


def build_parser() -> argparse.ArgumentParser:
    """
    Return the ``gateway`` parser with every command registered.
    """
    from gateway.cli import apply, demo, iam, init, migrate, policy, serve, workload

    parser = _Parser(
        prog="gateway",
        description="AWS-IAM-style identity and access management for internal HTTP services.",
    )
    parser.add_argument("--version", action="version", version=f"gateway {__version__}")
    # Subcommand parsers are `_Parser`s too (argparse uses the parent's class); the
    # registering modules only need the `ArgumentParser` interface.
    commands = cast(
        "argparse._SubParsersAction[argparse.ArgumentParser]",
        parser.add_subparsers(dest="command", metavar="COMMAND", required=True),
    )
    init.register(commands)
    migrate.register(commands)
    demo.register(commands)
    serve.register(commands)
    iam.register(commands)
    apply.register(commands)
    policy.register(commands)
    workload.register(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    """
    Run the ``gateway`` command and return its exit status.
    """
    try:
        parser = build_parser()
        try:
            args = parser.parse_args(argv)
        except SystemExit as exc:  # --help, --version and usage errors exit from argparse
            return exc.code if isinstance(exc.code, int) else EXIT_USAGE
        status = args.func(args)
        return int(status)
    except KeyboardInterrupt:
        print("gateway: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except UsageError as exc:
        print(f"gateway: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except ConfigError as exc:
        print(f"gateway: error: {exc.message}", file=sys.stderr)
        return EXIT_USAGE
    except GatewayError as exc:
        print(f"gateway: error: {exc.message}", file=sys.stderr)
        return EXIT_FAILED
    except BrokenPipeError:
        # The reader went away (`gateway iam list-users | head`): stop quietly.
        _silence_stdout()
        return EXIT_FAILED
    except Exception as exc:
        if os.environ.get("GATEWAY_DEBUG"):
            raise
        # SECURITY: only the exception's type; its text may hold a value we must not print.
        print(
            f"gateway: internal error: {type(exc).__name__}; this is a bug "
            "(set GATEWAY_DEBUG=1 to see the traceback)",
            file=sys.stderr,
        )
        return EXIT_INTERNAL


def _silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


__all__ = ["UsageError", "build_parser", "main"]
