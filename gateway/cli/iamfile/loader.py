"""
``load_iam_file()``: read an IAM file, decode its TOML or JSON, and check it.

Decoding errors name the line; what the file says is checked by ``reader``.

The outermost layer, like the rest of ``gateway.cli``.
"""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

from gateway.cli.iamfile.reader import Reader
from gateway.cli.iamfile.specs import IAMFile, IAMFileError

_TOML_POSITION = re.compile(r"\s*\(at line (\d+), column (\d+)\)$")


def load_iam_file(path: str) -> IAMFile:
    """
    Read and check an IAM file (``.toml`` or ``.json``).

    Raises:
        IAMFileError: the file cannot be read or is malformed; names the location.
    """
    suffix = Path(path).suffix.lower()
    if suffix not in (".toml", ".json"):
        raise IAMFileError(path, "", "unsupported file type; expected `.toml` or `.json`")
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise IAMFileError(path, "", "file not found") from None
    except UnicodeDecodeError:
        raise IAMFileError(path, "", "the file is not UTF-8 text") from None
    except OSError as exc:
        reason = (exc.strerror or type(exc).__name__).lower()
        raise IAMFileError(path, "", f"cannot read the file: {reason}") from None
    if suffix == ".toml":
        try:
            data: object = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            message = str(exc)
            position = _TOML_POSITION.search(message)
            where = f"line {position.group(1)}" if position else ""
            reason = _TOML_POSITION.sub("", message)
            raise IAMFileError(
                path, where, f"invalid TOML: {reason[:1].lower()}{reason[1:]}"
            ) from None
    else:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise IAMFileError(
                path, f"line {exc.lineno}", f"invalid JSON: {exc.msg.lower()}"
            ) from None
    return Reader(path).file(data)
