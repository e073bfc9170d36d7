"""Sweeps and scaling fits as text, CSV, JSON and a plot (torch-free: results, units and errors only).

* :func:`render_sweep`: the table (peak, FLOPs, parameters, fits per point) and the formulas;
* :func:`render_formulas`: total FLOPs and peak memory as polynomials in b and s, each coefficient
  explained (``6.00·N per token`` for the matmuls of a training step, the ``b·s²`` attention terms per op
  and per call);
* :func:`sweep_csv`, :func:`sweep_json`; :func:`save_sweep_plot` (matplotlib: peak memory against batch
  or sequence, one line per other value, the budget as a line);
* :func:`render_scaling_fit`: the answer of a fit from the polynomials.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from fractions import Fraction

from ..results.scaling import Formulas, ScalingFit, SweepPoint, SweepResult, monomial_text
from ..units import exact, nbytes, si
from .table import DEFAULT_WIDTH, wrap


def _points_table(points: Sequence[SweepPoint], budget: int | None) -> list[str]:
    configs = any(p.config for p in points)
    seq = any(p.seq is not None for p in points)
    head = (["config"] if configs else []) + ["batch"] + (["seq"] if seq else []) + \
        ["peak memory", "FLOPs", "params"] + (["fits"] if budget is not None else [])
    rows = []
    for p in points:
        row = ([" ".join(f"{k}={v}" for k, v in p.config)] if configs else []) + [str(p.batch)] + \
            ([str(p.seq)] if seq else []) + [nbytes(p.peak), si(p.flops), si(p.params)] + \
            ([("yes" if p.fits else "no")] if budget is not None else [])
        rows.append(row)
    widths = [max(len(r[i]) for r in [head] + rows) for i in range(len(head))]
    right = {i for i, h in enumerate(head) if h not in ("config", "fits")}

    def line(cells: list[str]) -> str:
        return "  ".join(c.rjust(w) if i in right else c.ljust(w)
                         for i, (c, w) in enumerate(zip(cells, widths)))

    return [line(head), "  ".join("-" * w for w in widths)] + [line(r).rstrip() for r in rows]


def _wrapped(lines: Sequence[str], width: int | None) -> list[str]:
    """Each line broken at spaces to ``width`` characters (None: unchanged); continuations indented."""
    return [part for line in lines for part in wrap(line, width)]


def render_sweep(result: SweepResult | Sequence[SweepResult], *, max_rows: int = 60,
                 formulas: bool = True, width: int | None = DEFAULT_WIDTH) -> str:
    """The sweep's table (at most ``max_rows`` rows: the rest are in the CSV / JSON) and formulas; the
    lines around the table wrap at ``width`` characters."""
    results = [result] if isinstance(result, SweepResult) else list(result)
    first = results[0]
    points = [p for r in results for p in r.points]
    what = "training step" if first.train else "inference step"
    lines = [f"{first.model}  |  sweep of the {what}: {len(points)} point(s)"]
    for r in results:
        where = " ".join(f"{k}={v}" for k, v in r.points[0].config) if r.points and r.points[0].config else ""
        prefix = f"{where}: " if where else ""
        if r.method == "polynomial":
            lines.append(f"{prefix}polynomials recovered from {len(r.design)} traced sizes and checked on "
                         f"{len(r.verified)} more ({r.traces} traces, {r.seconds:.2f} s): every other point "
                         "is evaluated, exactly")
        else:
            lines.append(f"{prefix}{r.reason or 'every point traced'} ({r.traces} traces, {r.seconds:.2f} s)")
        lines += [f"note: {n}" for n in r.notes]
    budget = first.budget
    if budget is not None:
        fit = sum(1 for p in points if p.fits)
        lines.append(f"budget {nbytes(budget)} ({exact(budget)} B): {fit} of {len(points)} point(s) fit")
    lines = _wrapped(lines, width)
    table = _points_table(points, budget)
    if len(points) > max_rows:
        keep = max_rows // 2
        skipped = f"... {len(points) - 2 * keep} more row(s) (all in the CSV / JSON) ..."
        table = table[:2 + keep] + [skipped] + table[-keep:]
    lines += [""] + table
    if formulas:
        for r in results:
            if r.formulas is not None:
                lines += [""] + _wrapped(render_formulas(r.formulas, r.train).splitlines(), width)
                break
    return "\n".join(lines)


def render_formulas(f: Formulas, train: bool = False) -> str:
    """Total FLOPs and peak memory as polynomials in b (batch) and s (sequence), explained."""
    n = f.params
    lines = ["Formulas (b = batch size, s = sequence length; exact, recovered from traces):",
             f"  FLOPs          = {f.flops}",
             f"    forward      = {f.forward_flops}",
             f"    backward     = {f.backward_flops}" if f.backward_flops.terms else ""]
    bs = f.flops.coefficient((1, 1))
    if bs and n:
        mm = sum((t.coefficient for t in f.terms if t.monomial == (1, 1) and _is_matmul(t.op)), Fraction(0))
        lines.append(f"  b·s coefficient (per token): {_frac(bs)} = {float(bs / n):.3f}·N, N = {exact(n)} "
                     f"parameters; matmuls give {_frac(mm)} = {float(mm / n):.3f}·N (a parameter used in a "
                     f"matmul costs {'6 per token: 2 forward, 4 backward' if train else '2 per token'}; "
                     "an embedding table is looked up, not multiplied)")
    by_mono: dict[tuple[int, int], list] = {}
    for t in f.terms:
        by_mono.setdefault(t.monomial, []).append(t)
    for mono, terms in sorted(by_mono.items(), key=lambda kv: (-(kv[0][0] + kv[0][1]), -kv[0][1])):
        if mono in ((1, 1), (0, 0)) and len(terms) > 3:
            continue
        total = sum((t.coefficient for t in terms), Fraction(0))
        parts = ", ".join(f"{t.op.removeprefix('aten.')} {_frac(t.coefficient)}"
                          + (f" = {t.calls} calls x {_frac(t.coefficient / t.calls)}"
                             if t.calls > 1 and (t.coefficient / t.calls).denominator == 1 else "")
                          for t in terms[:4])
        more = f", +{len(terms) - 4} op(s)" if len(terms) > 4 else ""
        lines.append(f"  {monomial_text(mono)} terms ({_frac(total)}): {parts}{more}")
    lines.append("  Peak memory (bytes) = the largest of the timeline's polynomials; over the swept points:")
    for piece in f.peak:
        where = f"{piece.phase} {piece.op.removeprefix('aten.')}".strip()
        lines.append(f"    {piece.polynomial}   (at {where}; the peak at {piece.points} point(s))")
    if f.rounding > 1:
        lines.append(f"    + up to {f.rounding - 1} B per live tensor not a multiple of {f.rounding} B (the "
                     "CUDA "
                     "allocator's blocks; the sweep's figures include it exactly)")
    lines.append(f"  Parameters: {exact(n)} (constant)")
    return "\n".join(x for x in lines if x)


MATMULS = ("mm", "addmm", "bmm", "baddbmm", "matmul", "linear", "addmv", "mv", "_scaled_mm")


def _is_matmul(op: str) -> bool:
    return op.removeprefix("aten.").split(".")[0] in MATMULS


def _frac(c: Fraction) -> str:
    return exact(int(c)) if c.denominator == 1 else f"{c.numerator}/{c.denominator}"


def sweep_csv(result: SweepResult | Sequence[SweepResult]) -> str:
    results = [result] if isinstance(result, SweepResult) else list(result)
    keys = sorted({k for r in results for p in r.points for k, _ in p.config})
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(keys + ["batch", "seq", "peak_bytes", "flops", "params", "fits", "traced", "method"])
    for r in results:
        for p in r.points:
            cfg = dict(p.config)
            w.writerow([cfg.get(k, "") for k in keys]
                       + [p.batch, "" if p.seq is None else p.seq, p.peak, p.flops, p.params,
                          "" if p.fits is None else int(p.fits), int(p.traced), r.method])
    return out.getvalue()


def sweep_json(result: SweepResult | Sequence[SweepResult]) -> str:
    results = [result] if isinstance(result, SweepResult) else list(result)
    return json.dumps({"sweeps": [r.to_dict() for r in results]}, indent=2)


def save_sweep_plot(result: SweepResult | Sequence[SweepResult], path: str, along: str | None = None) -> None:
    """Peak memory against ``along`` ("batch" or "seq"; default: the one with more values), one line per
    value of the other (and per configuration), the budget as a dashed line; .png or .svg."""
    from .plot import pyplot

    results = [result] if isinstance(result, SweepResult) else list(result)
    plt = pyplot("the sweep plot", path)
    points = [p for r in results for p in r.points]
    if along is None:
        nb, ns = len({p.batch for p in points}), len({p.seq for p in points})
        along = "seq" if ns > nb else "batch"
    other = "batch" if along == "seq" else "seq"
    lines: dict[tuple, list[tuple[int, int]]] = {}
    for p in points:
        key = (p.config, getattr(p, other))
        lines.setdefault(key, []).append((getattr(p, along), p.peak))
    fig, ax = plt.subplots(figsize=(9, 5.5))
    shown = sorted(lines.items(), key=lambda kv: (kv[0][0], kv[0][1] or 0))
    if len(shown) > 12:  # keep the plot readable: 12 lines spread over the others
        step = (len(shown) - 1) / 11
        shown = [shown[round(i * step)] for i in range(12)]
    for (config, value), xy in shown:
        xy.sort()
        name = " ".join(f"{k}={v}" for k, v in config)
        label = (name + " " if name else "") + (f"{other} {value}" if value is not None else "")
        ax.plot([x for x, _ in xy], [y / 2 ** 30 for _, y in xy], marker="o", markersize=3,
                label=label.strip() or None)
    budget = results[0].budget
    if budget is not None:
        ax.axhline(budget / 2 ** 30, color="black", linestyle="--", label=f"budget {nbytes(budget)}")
    ax.set_xlabel("batch size" if along == "batch" else "sequence length")
    ax.set_ylabel("peak memory (GiB)")
    xs = {x for xy in lines.values() for x, _ in xy}
    if len(xs) > 2 and min(xs) > 0:
        ax.set_xscale("log", base=2)
        from matplotlib.ticker import FuncFormatter

        ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:g}"))
    peaks = [p.peak for p in points if p.peak > 0]
    if peaks and max(peaks) > 20 * min(peaks):  # memory over orders of magnitude: a log axis
        ax.set_yscale("log")
    what = "training step" if results[0].train else "inference"
    ax.set_title(f"{results[0].model}: peak memory of the {what}", fontsize=10, loc="left")
    ax.grid(True, alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def render_scaling_fit(found: ScalingFit, model: str, train: bool, width: int | None = DEFAULT_WIDTH) -> str:
    """The answer of a fit, the polynomial of the peak at the answer and the sizes traced, wrapped at
    ``width`` characters."""
    what = "training step" if train else "inference"
    mult = f", a multiple of {found.multiple}" if found.multiple > 1 else ""
    lines = [f"{model}  |  largest {found.along}{mult} whose {what} peak fits {nbytes(found.budget)} "
             f"({exact(found.budget)} B)"]
    if found.value == 0:
        lines.append(f"nothing fits: even {found.along} {found.multiple} needs more")
    else:
        at_positions = any(n.startswith("the search stops at the model's") for n in found.notes)
        more = "" if not found.limited else " (the model's position limit)" if at_positions else \
            " (the search limit; larger may fit)"
        lines.append(f"{found.along} = {exact(found.value)}{more}: peak {nbytes(found.peak or 0)} "
                     f"({exact(found.peak or 0)} B)")
    if found.method == "polynomial":
        lines.append("answered from the peak's polynomials, confirmed by traces at "
                     f"{found.value or found.multiple} and above ({len(found.traces)} traces in all, "
                     f"{found.seconds:.2f} s)")
        if found.formula is not None:
            lines.append(f"peak at the answer = {found.formula}{_remainder(found)}")
    else:
        lines.append(f"{found.reason}: answered by the re-tracing search ({len(found.traces)} traces, "
                     f"{found.seconds:.2f} s)")
    lines += [f"note: {n}" for n in found.notes]
    tried = [f"{exact(n)} -> {nbytes(p)}" for n, p in found.traces]
    return "\n".join(_wrapped(lines, width) + _items("tried by tracing (size -> peak): ", tried, width))


def _items(head: str, items: Sequence[str], width: int | None) -> list[str]:
    """``head`` and ``items`` joined by commas, broken between items (never inside one) to ``width``."""
    lines, line = [], head
    for i, item in enumerate(items):
        text = item + ("," if i + 1 < len(items) else "")
        if width is not None and line.strip() and len(line) + 1 + len(text) > width and line != head:
            lines.append(line)
            line = "    " + text
        else:
            line += ("" if line == head else " ") + text
    return lines + [line]


def _remainder(found: ScalingFit) -> str:
    """What the traced peak at the answer adds to the polynomial's value there (the CUDA allocator's
    512-byte blocks, which no polynomial follows), or nothing when they are equal."""
    if found.formula is None or not found.value or found.peak is None:
        return ""
    at = found.formula(found.value, 1) if found.along == "batch" else found.formula(1, found.value)
    rest = found.peak - at
    if not rest:
        return ""
    var = "b" if found.along == "batch" else "s"
    if rest > 0:
        return (f" + {exact(int(rest))} B of allocator rounding (512-byte blocks) at {var} = "
                f"{exact(found.value)}")
    return f" - {exact(int(-rest))} B at {var} = {exact(found.value)} (the traced peak is lower)"
