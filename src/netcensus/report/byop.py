"""``--by-op``: the aten ops of the trace with calls, MACs, FLOPs, formula and modules."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..units import exact, si
from .table import DEFAULT_WIDTH, clip, compress_paths, coverage_line, wrap

if TYPE_CHECKING:
    from ..results.profile import Profile

MAX_FORMULA = 70


def render_by_op(profile: Profile, width: int | None = None) -> str:
    """The ops table; to fit ``width`` (default 100) characters the modules, the formulas, then the op
    names are cut (``...``), and the lines under it wrap."""
    limit = width or DEFAULT_WIDTH
    headers = ("Op", "Status", "Calls", "Fwd", "Bwd", "MACs", "FLOPs", "Formula (first call)", "Modules")
    rows: list[tuple[str, ...]] = [headers]
    for r in profile.by_op():
        formula = r.formula if len(r.formula) <= MAX_FORMULA else r.formula[: MAX_FORMULA - 3] + "..."
        modules = ", ".join(compress_paths(": " + ", ".join(m or profile.model for m in r.modules))[2:]
                            .split(", ")[:3])
        modules += " ..." if len(r.modules) > 3 else ""
        rows.append((r.op, r.status, exact(r.calls), exact(r.forward_calls), exact(r.backward_calls),
                     si(r.figures.macs), si(r.figures.flops), formula, modules))
    if not any(r.backward_calls for r in profile.by_op()):  # forward only: Calls says it all
        rows = [row[:3] + row[5:] for row in rows]
        right = {2, 3, 4}
    else:
        right = {2, 3, 4, 5, 6}
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    last = len(widths) - 1
    # modules, formulas, then op names give way
    for i, least in ((last, 12), (last - 1, 24), (0, 28), (last, 8), (last - 1, 12), (0, 20)):
        excess = sum(widths) + 2 * (len(widths) - 1) - limit
        if excess > 0:
            widths[i] = max(least, widths[i] - excess)
    lines = wrap(f"{profile.model} | ops of the trace, most FLOPs first", limit)
    for k, row in enumerate(rows):
        cells = [clip(c, widths[i]) for i, c in enumerate(row)]
        cells = [c.rjust(widths[i]) if i in right else c.ljust(widths[i]) for i, c in enumerate(cells)]
        lines.append("  ".join(cells).rstrip())
        if k == 0:
            lines.append("-" * len(lines[-1]))
    lines += wrap(coverage_line(profile), limit)
    return "\n".join(lines)
