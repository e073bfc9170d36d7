"""The terminal table: one row per module (a tree), then totals, compute, memory, notes and warnings.

Counts are exact with thousands separators; MACs and FLOPs use SI prefixes; bytes use IEC units (the
units line under the table says so). Repeated identical blocks are collapsed (see :mod:`.tree`). With
a ``width``, columns are abbreviated, then dropped, lowest priority first, until the table fits; the
table never wraps. ``style`` colours it (see :mod:`.style`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from .columns import COLUMNS, MAX_SHAPE_WIDTH, Column, choose_columns, parse_sort
from .memory import memory_lines
from .style import PLAIN, Style
from .tree import GROUP, TOTAL, DisplayRow, display_rows
from ..units import CONVENTION, exact, nbytes, si

if TYPE_CHECKING:
    from ..results.profile import Profile

SEP = 2


def clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(width - 3, 0)] + "..."


def fit_widths(cols: Sequence[Column], natural: list[int], limit: int | None) -> tuple[list[int], list[int]]:
    """Widths that fit ``limit`` characters and the indices of dropped columns: abbreviate the columns
    that may be (lowest priority first) down to their minimum, then drop whole columns (lowest priority
    first), then give the room left back to the abbreviated ones (highest priority first)."""
    widths = list(natural)
    if limit is None:
        return widths, []

    def total(skip: set[int]) -> int:
        kept = [w for i, w in enumerate(widths) if i not in skip]
        return sum(kept) + SEP * (len(kept) - 1)

    by_priority = sorted(range(len(cols)), key=lambda i: cols[i].priority)
    dropped: set[int] = set()
    for i in by_priority:
        excess = total(dropped) - limit
        if excess <= 0:
            break
        if cols[i].min_width and widths[i] > cols[i].min_width:
            widths[i] -= min(widths[i] - cols[i].min_width, excess)
    for i in by_priority:
        if total(dropped) <= limit:
            break
        if cols[i].key != "name":
            dropped.add(i)
    for i in reversed(by_priority):
        room = limit - total(dropped)
        if room <= 0:
            break
        if i not in dropped and widths[i] < natural[i]:
            widths[i] += min(room, natural[i] - widths[i])
    if total(dropped) > limit:  # even the name column alone is too wide: clip it
        name = next(i for i, c in enumerate(cols) if c.key == "name")
        widths[name] = max(8, widths[name] - (total(dropped) - limit))
    return widths, sorted(dropped)


def render_table(profile: Profile, depth: int | None = None, memory_columns: bool | None = None, *,
                 columns: str | Sequence[str] | None = None, sort: str | None = None, expand: bool = False,
                 width: int | None = None, style: Style = PLAIN) -> str:
    """The table. ``memory_columns`` (default: for training traces) adds the per-layer memory;
    ``columns`` is a ``--columns`` spec or a list of keys; ``sort`` a ``--sort`` spec; ``expand`` shows
    every repeated block; ``width`` fits the table into that many characters."""
    memory = (profile.train if memory_columns is None else memory_columns) and profile.memory is not None
    keys = choose_columns(columns, memory) if columns is None or isinstance(columns, str) else list(columns)
    cols = [COLUMNS[k] for k in keys]
    sort_key, descending = parse_sort(sort)
    shown = display_rows(profile, depth, sort_key, descending, expand)
    cells = [[c.text(d) for c in cols] for d in shown]
    for j, c in enumerate(cols):
        if c.key in ("input", "output"):
            for row in cells:
                row[j] = clip(row[j], MAX_SHAPE_WIDTH)
    natural = [max([len(c.header)] + [len(row[j]) for row in cells]) for j, c in enumerate(cols)]
    widths, dropped = fit_widths(cols, natural, width)
    keep = [j for j in range(len(cols)) if j not in dropped]

    def line(texts: list[str], d: DisplayRow | None) -> str:
        parts = []
        for j in keep:
            t = clip(texts[j], widths[j])
            t = t.rjust(widths[j]) if cols[j].right else t.ljust(widths[j])
            parts.append(_paint_cell(style, cols[j], t, d))
        return (" " * SEP).join(parts).rstrip()

    header = line([c.header for c in cols], None)
    plain_width = sum(widths[j] for j in keep) + SEP * (len(keep) - 1)
    title = (f"{profile.model}  |  input {profile.inputs}  |  traced on {profile.device}, {profile.mode} mode"
             + (", forward + backward" if profile.train else ""))
    lines = [style.bold(title), style.bold(header), style.dim("-" * plain_width)]
    lines.extend(line(row, d) for row, d in zip(cells, shown))
    lines.append(style.dim("=" * plain_width))
    if dropped:
        left = ", ".join(cols[j].header for j in dropped)
        lines.append(f"(columns left out to fit {width} characters: {left}; choose with --columns or widen "
                     "the terminal)")
    if depth is not None and any(r.depth > depth for r in profile.layers):
        lines.append(f"(rows deeper than depth {depth} are hidden; their figures are in their parents' rows)")
    if any(d.kind == GROUP for d in shown):
        lines.append("Rows 'a.0-N xK' stand for K consecutive identical blocks (same type, parameters, "
                     "shapes and FLOPs): figures per block, memory as the range over the blocks; "
                     "'= ... total' rows sum them. --expand shows every block.")
    lines.extend(totals_lines(profile))
    lines.extend(compute_lines(profile))
    lines.extend(memory_lines(profile))
    for note in profile.notes:
        lines.append(f"note: {note}")
    for warning in profile.warnings:
        lines.append(style.yellow(f"WARNING: {warning}"))
    return "\n".join(lines)


def _paint_cell(style: Style, col: Column, text: str, d: DisplayRow | None) -> str:
    if not style.enabled or d is None:
        return text
    if d.kind == TOTAL:
        return style.bold(text)
    if d.kind == GROUP and col.key == "name":
        return style.cyan(text)
    if col.key == "flops" and d.row.unsupported_calls:
        return style.red(text)
    if col.key in ("params", "own") and text.strip() == "0":
        return style.dim(text)
    return text


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
    lines.append(CONVENTION)
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
