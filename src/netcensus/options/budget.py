"""Parse memory budgets: ``"80GiB"``, ``"80GB"``, ``"1.5 TiB"``, ``"512MiB"``, ``1024`` (bytes).

IEC units (KiB, MiB, GiB, TiB, PiB) are powers of 1024; SI units (kB/KB, MB, GB, TB, PB) powers of
1000; ``B`` or no unit means bytes. Units are case-insensitive. A unit without ``B`` (``"80G"``) is
refused, since it does not say which of the two is meant. Fractional results round down.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from ..errors import MemoryConfigError

UNITS: dict[str, int] = {
    "b": 1,
    "kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40, "pib": 1 << 50,
    "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12, "pb": 10**15,
}

_PATTERN = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*([A-Za-z]*)\s*$")


def parse_bytes(value: str | int) -> int:
    """Bytes meant by ``value``."""
    if isinstance(value, bool):
        raise MemoryConfigError(f"not a memory size: {value!r}")
    if isinstance(value, int):
        if value < 0:
            raise MemoryConfigError(f"a memory size cannot be negative: {value}")
        return value
    if isinstance(value, float):
        value = repr(value)
    m = _PATTERN.match(str(value))
    if not m:
        raise MemoryConfigError(f"not a memory size: {value!r}",
                                fix="write a number and a unit, e.g. '80GiB', '80GB', '1.5TiB' or 1024")
    number, unit = m.group(1), m.group(2).lower()
    scale = UNITS.get(unit or "b")
    if scale is None:
        raise MemoryConfigError(
            f"unknown unit {m.group(2)!r} in {value!r}",
            fix="use B, KiB, MiB, GiB, TiB, PiB (powers of 1024) or kB, MB, GB, TB, PB (powers of 1000)")
    try:
        return int(Decimal(number) * scale)
    except InvalidOperation:  # pragma: no cover - the pattern admits only numbers
        raise MemoryConfigError(f"not a memory size: {value!r}") from None
