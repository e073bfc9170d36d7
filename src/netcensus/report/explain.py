"""``--explain``: per layer, the parameter and output-shape formulas with the numbers bound."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .table import totals_lines

if TYPE_CHECKING:
    from ..results.profile import Profile


def render_explain(profile: Profile) -> str:
    lines = [f"{profile.model}  |  input {profile.inputs}", ""]
    for row in profile.layers:
        if not row.explain and not row.warnings:
            continue
        head = f"{row.name}  {row.describe}"
        if row.calls > 1:
            head += f"  (called {row.calls} times; parameters counted once)"
        lines.append(head)
        lines.extend(f"  {line}" for line in row.explain)
        lines.extend(f"  WARNING: {w}" for w in row.warnings)
    own_sum = sum(r.own_params for r in profile.layers)
    terms = [f"{r.own_params:,}" for r in profile.layers if r.own_params]
    lines.append("")
    if terms:
        lines.append(f"Total = sum of own params = {' + '.join(terms)} = {own_sum:,}")
    lines.extend(totals_lines(profile))
    for note in profile.notes:
        lines.append(f"note: {note}")
    return "\n".join(lines)
