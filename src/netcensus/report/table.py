"""The terminal table: one row per module, then totals, notes and warnings.

Counts are exact with thousands separators, followed by an SI figure; bytes use IEC units.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .units import exact, nbytes, si

if TYPE_CHECKING:
    from ..profile import LayerRow, Profile

MAX_SHAPE_WIDTH = 36
HEADERS = ("Layer", "Type", "Input shape", "Output shape", "Params", "Own", "Train", "Formula (own params)")
RIGHT = {4, 5}


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def _cells(row: LayerRow) -> tuple[str, ...]:
    name = "  " * row.depth + row.name + (f" x{row.calls}" if row.calls > 1 else "")
    if row.not_called:
        name += " (not called)"
    return (
        name, row.type, _clip(row.input_text, MAX_SHAPE_WIDTH), _clip(row.output_text, MAX_SHAPE_WIDTH),
        exact(row.params), exact(row.own_params), row.trainable, row.formula,
    )


def visible_rows(profile: Profile, depth: int | None) -> list[LayerRow]:
    return [r for r in profile.layers if depth is None or r.depth <= depth]


def render_table(profile: Profile, depth: int | None = None) -> str:
    rows = [HEADERS] + [_cells(r) for r in visible_rows(profile, depth)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(HEADERS))]
    lines = [
        f"{profile.model}  |  input {profile.inputs}  |  traced on {profile.device}, {profile.mode} mode"
        + (", forward + backward" if profile.train else ""),
    ]
    for k, r in enumerate(rows):
        cells = [c.rjust(widths[i]) if i in RIGHT else c.ljust(widths[i]) for i, c in enumerate(r)]
        lines.append("  ".join(cells).rstrip())
        if k == 0:
            lines.append("-" * len(lines[-1]))
    lines.append("=" * max(len(x) for x in lines[1:3]))
    lines.extend(totals_lines(profile))
    if depth is not None and any(r.depth > depth for r in profile.layers):
        lines.append(f"(rows deeper than depth {depth} are hidden; their parameters are in their parents' "
                     "Params)")
    for note in profile.notes:
        lines.append(f"note: {note}")
    for warning in profile.warnings:
        lines.append(f"WARNING: {warning}")
    return "\n".join(lines)


def totals_lines(profile: Profile) -> list[str]:
    def count(label: str, n: int) -> str:
        return f"{label:<18}{exact(n):>16}  ({si(n)})"

    lines = [
        count("Total params", profile.total_params),
        count("  trainable", profile.trainable_params),
        count("  frozen", profile.frozen_params),
        f"{'Buffers':<18}{exact(profile.buffers):>16}  elements, {nbytes(profile.buffer_bytes)} "
        "(not parameters)",
    ]
    for dtype, b in sorted(profile.param_bytes_by_dtype.items()):
        lines.append(f"{'Param bytes':<18}{exact(b):>16}  B = {nbytes(b)} as {dtype}")
    lines.append("Units: counts exact, SI in brackets (M = 10^6); bytes IEC (MiB = 2^20 B).")
    return lines
