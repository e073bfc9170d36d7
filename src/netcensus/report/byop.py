"""``--by-op``: the aten ops of the trace with calls, MACs, FLOPs, formula and modules."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..units import exact, si
from .table import DEFAULT_WIDTH, clip, compress_paths, coverage_line, wrap

if TYPE_CHECKING:
    from ..results.profile import Profile

MAX_FORMULA = 70


MIN_FORMULA = 20
"""Narrower than this, the formula column says nothing: it is left out (and the table says so)."""


def render_by_op(profile: Profile, width: int | None = None) -> str:
    """The ops table; to fit ``width`` (default 100) characters the modules, the formulas, then the op
    names are cut (``...``); a formula column that would be cut below :data:`MIN_FORMULA` is left out,
    and a cut module list becomes the first module and a count (``stem.0 +14``). The lines under it
    wrap."""
    limit = width or DEFAULT_WIDTH
    rows, short, right = _op_rows(profile)
    widths = _fit([[len(c) for c in row] for row in rows], limit)
    dropped = ""
    if widths[-2] < min(MIN_FORMULA, max(len(row[-2]) for row in rows)):
        dropped = f"(left out to fit {limit} characters: Formula (first call); choose a larger --width)"
        rows = [(*row[:-2], row[-1]) for row in rows]
        widths = _fit([[len(c) for c in row] for row in rows], limit)
    last = len(widths) - 1
    lines = wrap(f"{profile.model} | ops of the trace, most FLOPs first", limit)
    for k, row in enumerate(rows):
        if len(row[last]) > widths[last]:  # cut: the first module and a count say more than a clipped list
            row = (*row[:last], short[k])
        cells = [clip(c, widths[i]) for i, c in enumerate(row)]
        cells = [c.rjust(widths[i]) if i in right else c.ljust(widths[i]) for i, c in enumerate(cells)]
        lines.append("  ".join(cells).rstrip())
        if k == 0:
            lines.append("-" * (sum(widths) + 2 * last))
    lines += wrap(dropped, limit) if dropped else []
    lines += wrap(coverage_line(profile), limit)
    return "\n".join(lines)


def _op_rows(profile: Profile) -> tuple[list[tuple[str, ...]], dict[int, str], set[int]]:
    """The header and one row per op, the module lists in short (``first +N``) by row, and the
    right-aligned columns (Fwd and Bwd only for a training trace)."""
    headers = ("Op", "Status", "Calls", "Fwd", "Bwd", "MACs", "FLOPs", "Formula (first call)", "Modules")
    rows: list[tuple[str, ...]] = [headers]
    short = {0: "Modules"}
    for r in profile.by_op():
        formula = r.formula if len(r.formula) <= MAX_FORMULA else r.formula[: MAX_FORMULA - 3] + "..."
        paths = compress_paths(": " + ", ".join(m or profile.model for m in r.modules))[2:].split(", ")
        modules = ", ".join(paths[:3]) + (" ..." if len(paths) > 3 else "")
        short[len(rows)] = paths[0] + (f" +{len(paths) - 1}" if len(paths) > 1 else "")
        rows.append((r.op, r.status, exact(r.calls), exact(r.forward_calls), exact(r.backward_calls),
                     si(r.figures.macs), si(r.figures.flops), formula, modules))
    if not any(r.backward_calls for r in profile.by_op()):  # forward only: Calls says it all
        return [row[:3] + row[5:] for row in rows], short, {2, 3, 4}
    return rows, short, {2, 3, 4, 5, 6}


def _fit(lengths: list[list[int]], limit: int) -> list[int]:
    """Column widths within ``limit``: the modules (last), the formulas (next to last, when there), then
    the op names (first) give way, each down to a floor, then further."""
    widths = [max(row[i] for row in lengths) for i in range(len(lengths[0]))]
    last = len(widths) - 1
    formula = last - 1 if len(widths) in (7, 9) else None  # 6 or 8 columns when it was left out
    if formula:
        steps = [(last, 12), (formula, 24), (0, 28), (formula, 16), (last, 8), (formula, 12), (0, 20)]
    else:
        steps = [(last, 20), (0, 28), (last, 12), (0, 20), (last, 8)]
    for i, least in steps:
        excess = sum(widths) + 2 * (len(widths) - 1) - limit
        if excess > 0:
            widths[i] = max(least, widths[i] - excess)
    room = limit - (sum(widths) + 2 * (len(widths) - 1))  # what the op names left, back to the modules
    widths[last] = min(max(row[last] for row in lengths), widths[last] + max(room, 0))
    return widths
