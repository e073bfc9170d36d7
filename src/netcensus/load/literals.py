"""Turn what users type after ``--arg``, ``--kwarg`` and ``--set`` into Python values.

A value is read as a Python literal with :func:`ast.literal_eval` (``3``, ``0.5``, ``(3, 3)``,
``[1, 2]``, ``'text'``, ``None``); ``true``/``false`` and ``none``/``null`` in any case are the
booleans and None; anything else stays the string it is (``relu``, ``bfloat16``). Nothing is
evaluated beyond literals.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from typing import Any

from ..errors import SpecError

_WORDS = {"true": True, "false": False, "none": None, "null": None}


def parse_value(text: Any) -> Any:
    """A literal for ``text``; non-strings are returned unchanged."""
    if not isinstance(text, str):
        return text
    stripped = text.strip()
    if stripped.lower() in _WORDS:
        return _WORDS[stripped.lower()]
    try:
        return ast.literal_eval(stripped)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return text


def parse_args(values: Iterable[Any]) -> tuple[Any, ...]:
    """Positional values, each through :func:`parse_value`."""
    if isinstance(values, str):
        raise SpecError(f"args must be a sequence of strings, got the string {values!r}",
                        fix="pass args=[...] (CLI: repeat --arg)")
    return tuple(parse_value(v) for v in values)


def parse_kwargs(values: Mapping[str, Any], what: str = "--kwarg", dotted: bool = False) -> dict[str, Any]:
    """Keyword values, each through :func:`parse_value`; every key must be an identifier (``dotted``:
    or identifiers joined by dots, ``text_config.num_hidden_layers``)."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        parts = key.split(".") if isinstance(key, str) and dotted else [key]
        if not isinstance(key, str) or not all(isinstance(p, str) and p.isidentifier() for p in parts):
            raise SpecError(f"{what} {key!r}: the name is not a valid Python identifier",
                            fix=f"write {what} NAME=VALUE, e.g. {what} num_classes=10")
        out[key] = parse_value(value)
    return out


def split_pairs(items: Iterable[str], what: str = "--kwarg") -> dict[str, str]:
    """``["a=1", "b=x"]`` -> ``{"a": "1", "b": "x"}`` (split at the first ``=``), for the CLI's
    repeated ``NAME=VALUE`` flags. A later repeat of a name wins."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise SpecError(f"{what} {item!r} is not NAME=VALUE",
                            fix=f"write {what} NAME=VALUE, e.g. {what} hidden_size=4096")
        out[key] = value
    return out
