"""``--fit``: the largest size that fits a memory budget, with every size tried."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..units import exact, nbytes
from .table import DEFAULT_WIDTH, wrap


def render_fit(found: Any, model: str, along: str, train: bool, hints: Sequence[str] = (),
               width: int | None = None) -> str:
    """The answer of ``--fit``, every size tried, and, when nothing fits, ``hints``: what could; lines
    wrap at ``width`` (default 100)."""
    what = "training step" if train else "inference"
    lines = [f"{model}  |  largest {along} whose {what} peak fits {nbytes(found.budget)} "
             f"({exact(found.budget)} B)"]
    if found.value == 0:
        lines.append(f"nothing fits: even {along} 1 needs more")
        if hints:
            lines.append("what could make it fit: " + "; ".join(hints))
    else:
        more = " (the search limit; larger may fit)" if found.limited else ""
        peak = f"peak {nbytes(found.peak)} ({exact(found.peak)} B)"
        lines.append(f"{along} = {exact(found.value)}{more}: {peak}")
    lines.append("tried (size -> peak): " + ", ".join(f"{n} -> {nbytes(p)}" for n, p in found.tries))
    lines.append("Peaks are traced on meta tensors at each size; see the memory assumptions of a single run "
                 "(netcensus MODEL --input ... --train) for what they include.")
    return "\n".join(t for line in lines for t in wrap(line, width or DEFAULT_WIDTH))
