"""The terminal table: one row per module, then totals, notes and warnings.

Counts are exact with thousands separators, followed by an SI figure; bytes use IEC units.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .memory import memory_lines
from .units import exact, nbytes, si

if TYPE_CHECKING:
    from ..profile import LayerRow, Profile

MAX_SHAPE_WIDTH = 36
HEADERS = ("Layer", "Type", "Input shape", "Output shape", "Params", "Own", "Train", "MACs", "Core MACs",
           "FLOPs", "Formula (own params)")
RIGHT = {4, 5, 7, 8, 9}


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


MEMORY_HEADERS = ("Saved for bwd", "Live peak")


def _memory_cells(row: LayerRow) -> tuple[str, ...]:
    return (nbytes(row.saved_bytes) if row.saved_bytes else "0", nbytes(row.peak_bytes) if row.calls else "")


def _cells(row: LayerRow) -> tuple[str, ...]:
    name = "  " * row.depth + row.name + (f" x{row.calls}" if row.calls > 1 else "")
    if row.not_called:
        name += " (not called)"
    return (
        name, row.type, _clip(row.input_text, MAX_SHAPE_WIDTH), _clip(row.output_text, MAX_SHAPE_WIDTH),
        exact(row.params), exact(row.own_params), row.trainable, si(row.macs), si(row.core_macs),
        si(row.flops) + ("*" if row.unsupported_calls else ""), row.formula,
    )


def visible_rows(profile: Profile, depth: int | None) -> list[LayerRow]:
    return [r for r in profile.layers if depth is None or r.depth <= depth]


def render_table(profile: Profile, depth: int | None = None, memory_columns: bool | None = None) -> str:
    """The table; ``memory_columns`` (default: for training traces) adds the per-layer memory."""
    if memory_columns is None:
        memory_columns = profile.train
    shown = visible_rows(profile, depth)
    if memory_columns and profile.memory is not None:
        headers = HEADERS[:-1] + MEMORY_HEADERS + HEADERS[-1:]
        rows = [headers] + [c[:-1] + _memory_cells(r) + c[-1:] for r, c in ((r, _cells(r)) for r in shown)]
        right = RIGHT | {len(HEADERS) - 1, len(HEADERS)}
    else:
        headers, right = HEADERS, RIGHT
        rows = [headers] + [_cells(r) for r in shown]
    widths = [max(len(r[i]) for r in rows) for i in range(len(headers))]
    lines = [
        f"{profile.model}  |  input {profile.inputs}  |  traced on {profile.device}, {profile.mode} mode"
        + (", forward + backward" if profile.train else ""),
    ]
    for k, r in enumerate(rows):
        cells = [c.rjust(widths[i]) if i in right else c.ljust(widths[i]) for i, c in enumerate(r)]
        lines.append("  ".join(cells).rstrip())
        if k == 0:
            lines.append("-" * len(lines[-1]))
    lines.append("=" * max(len(x) for x in lines[1:3]))
    lines.extend(totals_lines(profile))
    lines.extend(compute_lines(profile))
    lines.extend(memory_lines(profile))
    if depth is not None and any(r.depth > depth for r in profile.layers):
        lines.append(f"(rows deeper than depth {depth} are hidden; their parameters are in their parents' "
                     "Params)")
    for note in profile.notes:
        lines.append(f"note: {note}")
    for warning in profile.warnings:
        lines.append(f"WARNING: {warning}")
    return "\n".join(lines)


LABEL = 26


def figure(label: str, n: int, unit: str = "") -> str:
    """One totals line: label, exact value, SI value in brackets."""
    return f"{label:<{LABEL}}{exact(n):>20}  ({si(n)}{unit})"


def totals_lines(profile: Profile) -> list[str]:
    lines = [
        figure("Total params", profile.total_params),
        figure("  trainable", profile.trainable_params),
        figure("  frozen", profile.frozen_params),
        f"{'Buffers':<{LABEL}}{exact(profile.buffers):>20}  elements, {nbytes(profile.buffer_bytes)} "
        "(not parameters)",
    ]
    for dtype, b in sorted(profile.param_bytes_by_dtype.items()):
        lines.append(f"{'Param bytes (' + dtype + ')':<{LABEL}}{exact(b):>20}  B = {nbytes(b)}")
    lines.append("Units: counts exact, SI in brackets (M = 10^6); bytes IEC (MiB = 2^20 B).")
    return lines


def compute_lines(profile: Profile) -> list[str]:
    """Compute totals, the convention they follow, and the coverage line."""
    c = profile.compute
    if c is None:
        return []
    t = c.totals
    fig = figure
    what = "forward + backward" if profile.train else "forward"
    lines = [
        fig(f"MACs ({what})", t.total.macs),
        fig("  core MACs", t.total.core_macs),
        fig(f"FLOPs ({what})", t.total.flops),
    ]
    if profile.train:
        lines.append(fig("  forward FLOPs", t.forward.flops))
        lines.append(fig("  backward FLOPs", t.backward.flops))
    if t.causal_total.flops != t.total.flops:
        lines.append(fig("FLOPs causal-aware", t.causal_total.flops))
    lines.append("Convention: 1 MAC = 2 FLOPs; core MACs = conv, linear, matmul and attention products; "
                 "FLOPs count every op (docs/conventions.md).")
    lines.append(coverage_line(profile))
    return lines


def coverage_line(profile: Profile) -> str:
    cov = profile.compute.coverage
    total = cov.counted + cov.zero + cov.unsupported + cov.via_region
    within = ""
    if cov.via_region:
        within = f" ({exact(cov.via_region)} within {exact(cov.regions)} attention calls)"
    text = (f"Coverage: {exact(total)} op calls: {exact(cov.counted + cov.via_region)} counted{within}, "
            f"{exact(cov.zero)} zero by definition (views, metadata, copies), "
            f"{exact(cov.unsupported)} unsupported")
    if cov.unsupported:
        parts = []
        for module, byop in sorted(cov.unsupported_by_module.items()):
            ops = ", ".join(f"{op} x{n}" for op, n in sorted(byop.items()))
            parts.append(f"{module or profile.model}: {ops}")
        text += " (not counted; rows marked *): " + "; ".join(parts)
    return text
