"""``--by-op``: the aten ops of the trace with calls, MACs, FLOPs, formula and modules."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .table import coverage_line
from ..units import exact, si

if TYPE_CHECKING:
    from ..results.profile import Profile

MAX_FORMULA = 70


def render_by_op(profile: Profile) -> str:
    headers = ("Op", "Status", "Calls", "Fwd", "Bwd", "MACs", "FLOPs", "Formula (first call)", "Modules")
    rows = [headers]
    for r in profile.by_op():
        formula = r.formula if len(r.formula) <= MAX_FORMULA else r.formula[: MAX_FORMULA - 3] + "..."
        modules = ", ".join(m or profile.model for m in r.modules[:3])
        modules += " ..." if len(r.modules) > 3 else ""
        rows.append((r.op, r.status, exact(r.calls), exact(r.forward_calls), exact(r.backward_calls),
                     si(r.figures.macs), si(r.figures.flops), formula, modules))
    widths = [max(len(row[i]) for row in rows) for i in range(len(headers))]
    right = {2, 3, 4, 5, 6}
    lines = [f"{profile.model}  |  ops of the trace, most FLOPs first"]
    for k, row in enumerate(rows):
        cells = [c.rjust(widths[i]) if i in right else c.ljust(widths[i]) for i, c in enumerate(row)]
        lines.append("  ".join(cells).rstrip())
        if k == 0:
            lines.append("-" * len(lines[-1]))
    lines.append(coverage_line(profile))
    return "\n".join(lines)
