"""Read a small JSON object from disk (a config.json, a checkpoint index) with errors naming the file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..errors import ModelLoadError


def read_json_object(path: Path, where: str) -> dict[str, Any]:
    """The JSON object in ``path``; a clear error when it is missing, unreadable or not an object."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or exc
        raise ModelLoadError(f"cannot read {str(path)!r}: {reason}", where=where,
                             fix="check the path and its permissions") from exc
    try:
        values = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ModelLoadError(f"{str(path)!r} is not valid JSON (line {exc.lineno}, column {exc.colno}: "
                             f"{exc.msg})", where=where, fix="repair the file or fetch it again") from exc
    if not isinstance(values, dict):
        raise ModelLoadError(f"{str(path)!r} holds a JSON {type(values).__name__}, not an object",
                             where=where, fix="point at the right file")
    return values
