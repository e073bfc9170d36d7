"""The terminal table: one row per module (a tree), then a short summary: totals, compute, memory, the
assumptions, notes and warnings (``verbose``: all of it, with what each assumption means).

Counts are exact with thousands separators; MACs and FLOPs use SI prefixes; bytes use IEC units (the
units line under the table says so). Repeated identical blocks are collapsed (see :mod:`.tree`).
The default columns are the compute ones (memory ones for training traces or when asked); the table
fits ``width`` characters, :data:`DEFAULT_WIDTH` when none is given: columns are abbreviated, then
dropped, lowest priority first, and the table says which. Rows never wrap; the lines under the table
wrap at the same width. ``style`` colours it (see :mod:`.style`).
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..units import CONVENTION, exact, nbytes, si
from .columns import COLUMNS, MAX_SHAPE_WIDTH, PEAK_HELP, Column, parse_sort, table_keys
from .memory import memory_lines
from .style import PLAIN, Style
from .tree import GROUP, TOTAL, DisplayRow, display_rows

if TYPE_CHECKING:
    from ..results.profile import Profile

SEP = 2


def clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(width - 3, 0)] + "..."


def fit_widths(cols: Sequence[Column], natural: list[int], limit: int | None,
               clip_name: bool = True) -> tuple[list[int], list[int]]:
    """Widths that fit ``limit`` characters and the indices of dropped columns: abbreviate the columns
    that may be (lowest priority first) down to their minimum, then drop whole columns (lowest priority
    first), then give the room left back to the abbreviated ones (highest priority first). The layer
    names are clipped last, and only with ``clip_name``."""
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
        if cols[i].key != "name" and cols[i].priority < 1000:
            dropped.add(i)
    for i in reversed(by_priority):
        room = limit - total(dropped)
        if room <= 0:
            break
        if i not in dropped and widths[i] < natural[i]:
            widths[i] += min(room, natural[i] - widths[i])
    if clip_name and total(dropped) > limit:  # even the name column alone is too wide: clip it
        name = next(i for i, c in enumerate(cols) if c.key == "name")
        widths[name] = max(8, widths[name] - (total(dropped) - limit))
    return widths, sorted(dropped)


DEFAULT_WIDTH = 100
"""The width a table fits when no width is given (a pipe, a file, ``str(profile)``): its default columns
are abbreviated or left out to fit, and the lines under it wrap."""

GROUP_LEGEND = ("Rows 'a.0-N xK' are K identical consecutive blocks: figures per block (memory: the range "
                "over the blocks); '= ... total' rows sum them; --expand shows every block.")
UNITS = "Units: K = 10^3, M = 10^6, G = 10^9, T = 10^12; KiB = 2^10, MiB = 2^20, GiB = 2^30; 1 MAC = 2 FLOPs"
"""The one-line units convention of the short footer (``verbose`` prints the long one)."""


_UNIT = re.compile(r"(\d) (B|KiB|MiB|GiB|TiB|PiB|TB/s|[KMGTP]?FLOP/s|[KMGTP]?FLOP|K|M|G|T|P|ms|us|s)(?!\w)")
"""A number and its unit (``32.00 MiB``, ``1.88 G``): never broken apart by :func:`wrap`."""


def wrap(line: str, width: int | None, indent: str = "    ") -> list[str]:
    """``line`` broken at spaces into lines of at most ``width`` characters (a word longer than the
    width stays whole, and so does a number with its unit); continuation lines are indented."""
    if width is None or len(line) <= width:
        return [line]
    lead = line[: len(line) - len(line.lstrip(" "))]
    glued = _UNIT.sub("\\1\0\\2", line)  # a NUL holds the number to its unit while textwrap breaks
    parts = textwrap.wrap(glued, width, initial_indent="", subsequent_indent=lead + indent,
                          break_long_words=False, break_on_hyphens=False)
    return [part.replace("\0", " ") for part in parts] or [line]


_REPEATS = re.compile(r"\b([A-Za-z_]\w*)(?:, \1\b){2,}")


def runs(text: str) -> str:
    """Runs of one name repeated in a list, written once with their count: ``DynamicLayer, DynamicLayer,
    DynamicLayer`` -> ``DynamicLayer x3`` (an input described by its repr, such as a KV cache)."""
    return _REPEATS.sub(lambda m: f"{m.group(1)} x{m.group(0).count(', ') + 1}", text)


_NUMBERED = re.compile(r"^([\w.]*?\w)\.(\d+)((?:\.[\w.]+)?)$")
_CUT = re.compile(r"( \.\.\.| and \d+ more)$")


def compress_paths(text: str) -> str:
    """Runs of module paths that differ only in one block number, as the table writes them:
    ``h.0.attn, h.1.attn, h.2.attn`` -> ``h.0-2.attn``. Other text is unchanged."""
    head, sep, rest = text.partition(": ")
    if not sep:
        return text
    cut = _CUT.search(rest)  # a list cut short: 'a.0.x, a.1.x ...' or '... and 4 more'
    more = cut.group(0) if cut else ""
    items = rest.removesuffix(more).split(", ")
    out: list[list] = []  # [prefix, lo, hi, tail] or [text]
    for item in items:
        m = _NUMBERED.match(item)
        if m is None:
            out.append([item])
            continue
        prefix, n, tail = m.group(1), int(m.group(2)), m.group(3)
        last = out[-1] if out else None
        if last is not None and len(last) == 4 and last[0] == prefix and last[3] == tail and last[2] == n - 1:
            last[2] = n
        else:
            out.append([prefix, n, n, tail])
    parts = [x[0] if len(x) == 1 else f"{x[0]}.{x[1]}{'' if x[1] == x[2] else f'-{x[2]}'}{x[3]}" for x in out]
    return head + sep + ", ".join(parts) + more


def render_table(profile: Profile, depth: int | None = None, memory_columns: bool | None = None, *,
                 columns: str | Sequence[str] | None = None, sort: str | None = None, expand: bool = False,
                 width: int | None = None, style: Style = PLAIN, verbose: bool = False) -> str:
    """The table and a short summary under it. ``memory_columns`` (default: for training traces) adds the
    per-layer memory columns and the memory breakdown; ``columns`` is a ``--columns`` spec or a list of
    keys; ``sort`` a ``--sort`` spec; ``expand`` shows every repeated block; ``width`` fits the table
    into that many characters (default: the default columns fit :data:`DEFAULT_WIDTH`, columns asked for
    by name are all shown); ``verbose`` adds every total, the long units convention and what each memory
    assumption means."""
    memory = bool(profile.train if memory_columns is None else memory_columns) and profile.memory is not None
    keys = table_keys(profile, columns, memory_columns)
    cols = [COLUMNS[k] for k in keys]
    sort_key, descending = parse_sort(sort)
    shown = display_rows(profile, depth, sort_key, descending, expand)
    cells = [[c.text(d) for c in cols] for d in shown]
    for j, c in enumerate(cols):
        if c.key in ("input", "output"):
            for row in cells:
                row[j] = clip(row[j], MAX_SHAPE_WIDTH)
    natural = [max([len(c.header)] + [len(row[j]) for row in cells]) for j, c in enumerate(cols)]
    limit = width if width is not None else (DEFAULT_WIDTH if columns is None else None)
    widths, dropped = fit_widths(cols, natural, limit, clip_name=width is not None)
    keep = [j for j in range(len(cols)) if j not in dropped]
    text_width = width or DEFAULT_WIDTH

    def line(texts: list[str], d: DisplayRow | None) -> str:
        parts = []
        for j in keep:
            t = clip(texts[j], widths[j])
            t = t.rjust(widths[j]) if cols[j].right else t.ljust(widths[j])
            parts.append(_paint_cell(style, cols[j], t, d))
        return (" " * SEP).join(parts).rstrip()

    header = line([c.header for c in cols], None)
    plain_width = sum(widths[j] for j in keep) + SEP * (len(keep) - 1)
    title = (f"{profile.model} | input {runs(profile.inputs)} | traced on {profile.device}, "
             f"{profile.mode} mode"
             + (", forward + backward" if profile.train else ""))
    lines = [style.bold(t) for t in wrap(title, text_width)]
    lines += [style.bold(header), style.dim("-" * plain_width)]
    lines.extend(line(row, d) for row, d in zip(cells, shown))
    lines.append(style.dim("=" * plain_width))
    under: list[str] = []
    if dropped:
        left = ", ".join(cols[j].header for j in dropped)
        under.append(f"(left out to fit {limit} characters: {left}; choose with --columns or --width)")
    if depth is not None and any(r.depth > depth for r in profile.layers):
        under.append(f"(rows deeper than depth {depth} are hidden; their figures are in their parents' rows)")
    if any(d.kind == GROUP for d in shown):
        under.append(GROUP_LEGEND)
    if "peak" in keys and COLUMNS["peak"] not in [cols[j] for j in dropped]:
        under.append(f"{COLUMNS['peak'].header}: {PEAK_HELP}.")
    if verbose:
        under += totals_lines(profile) + compute_lines(profile) + memory_lines(profile)
    else:
        under += short_totals_lines(profile) + short_compute_lines(profile)
        under += memory_lines(profile, short=True, breakdown=memory)
        under.append(UNITS)
    for text in under:
        lines.extend(wrap(text, text_width))
    for note in profile.notes:
        lines.extend(wrap(f"note: {compress_paths(note)}", text_width))
    for warning in profile.warnings:
        lines.extend(style.yellow(t) for t in wrap(f"WARNING: {warning}", text_width))
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


def short_totals_lines(profile: Profile) -> list[str]:
    """The parameter totals in two or three lines: trainable and frozen only when some are frozen,
    buffers only when there are some."""
    total = figure("Total params", profile.total_params)
    if profile.frozen_params:
        total += f"; trainable {exact(profile.trainable_params)}, frozen {exact(profile.frozen_params)}"
    elif profile.total_params:
        total += ", all trainable"
    lines = [total]
    if profile.buffers:
        lines.append(f"{'Buffers':<{LABEL}}{exact(profile.buffers):>20}  elements, "
                     f"{nbytes(profile.buffer_bytes)} (not parameters)")
    for dtype, b in sorted(profile.param_bytes_by_dtype.items()):
        lines.append(f"{'Param bytes (' + dtype + ')':<{LABEL}}{exact(b):>20}  B = {nbytes(b)}")
    return lines


def short_compute_lines(profile: Profile) -> list[str]:
    """MACs and FLOPs (core MACs when they differ from MACs, forward and backward with train, the
    causal-aware figure when it differs), then the coverage line."""
    c = profile.compute
    if c is None:
        return []
    t = c.totals
    what = "forward + backward" if profile.train else "forward"
    macs = figure(f"MACs ({what})", t.total.macs)
    if t.total.core_macs != t.total.macs:
        macs += f"; core MACs {si(t.total.core_macs)}"
    lines = [macs, figure(f"FLOPs ({what})", t.total.flops)]
    if profile.train:
        lines.append(figure("  forward FLOPs", t.forward.flops))
        lines.append(figure("  backward FLOPs", t.backward.flops))
    if t.causal_total.flops != t.total.flops:
        lines.append(figure("FLOPs causal-aware", t.causal_total.flops))
    lines.append(coverage_line(profile))
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
