"""Find the largest size (batch size, sequence length) whose peak memory fits a budget.

``fit(peak_at, budget)`` calls ``peak_at(n)`` (the caller re-traces at size ``n`` and returns the peak
in bytes) and assumes the peak does not decrease as ``n`` grows. Search: try 1, 2, 4, 8... until a
size does not fit (or ``limit`` is reached), then bisect between the last size that fit and the first
that did not. That costs about ``2 * log2(answer)`` calls. Every call is kept in ``tries`` so the
report can show the arithmetic.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ...errors import SpecError
from ...options.budget import parse_bytes


@dataclass(frozen=True)
class FitResult:
    value: int
    """The largest size that fits (0 when even ``start`` does not)."""
    peak: int | None
    """Peak bytes at ``value`` (None when nothing fits)."""
    budget: int
    tries: tuple[tuple[int, int], ...]
    """Every (size, peak) evaluated, in order."""
    limited: bool = False
    """True when ``limit`` fit, so the true answer may be larger."""


def fit(peak_at: Callable[[int], int], budget: str | int, *, start: int = 1,
        limit: int = 1 << 20) -> FitResult:
    """The largest ``n`` in ``[start, limit]`` with ``peak_at(n) <= budget`` (see module docstring)."""
    cap = parse_bytes(budget)
    if start < 1 or limit < start:
        raise SpecError(f"need 1 <= start <= limit, got start={start}, limit={limit}")
    tries: list[tuple[int, int]] = []
    cache: dict[int, int] = {}

    def peak(n: int) -> int:
        if n not in cache:
            cache[n] = int(peak_at(n))
            tries.append((n, cache[n]))
        return cache[n]

    if peak(start) > cap:
        return FitResult(0, None, cap, tuple(tries))
    good, bad = start, None
    n = start
    while bad is None:
        if n == limit:
            return FitResult(n, peak(n), cap, tuple(tries), limited=True)
        n = min(n * 2, limit)
        if peak(n) <= cap:
            good = n
        else:
            bad = n
    while bad - good > 1:
        mid = (good + bad) // 2
        if peak(mid) <= cap:
            good = mid
        else:
            bad = mid
    return FitResult(good, cache[good], cap, tuple(tries))
