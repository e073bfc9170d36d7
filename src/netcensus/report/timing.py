"""Text and charts of the step-time model (:class:`~netcensus.results.timing.TimeResult`).

* :func:`render_time`: the prediction, the bound, throughput and MFU, per-layer shares and bounds, the
  measured-step comparison when there is one.
* :func:`render_compare`: two (or more) GPUs side by side.
* :func:`roofline_svg` (no dependency), :func:`write_roofline` (``.svg``, or ``.png`` through matplotlib
  when it is installed): layers (or ops) as points on arithmetic intensity vs achieved FLOP/s, under the
  device's roofs.

Imports only results, units, errors and the table's line wrapping (no torch).
"""

from __future__ import annotations

import html
import math
from pathlib import Path

from ..errors import SpecError
from ..results.timing import LayerTime, OpTime, TimeResult, rollup
from ..units import nbytes as fmt_bytes
from ..units import si
from .table import wrap


def seconds(t: float) -> str:
    """``0.0642`` -> ``64.2 ms``."""
    if t >= 1:
        return f"{t:.3g} s"
    if t >= 1e-3:
        return f"{t * 1e3:.3g} ms"
    return f"{t * 1e6:.3g} us"


def _rate(x: float | None, unit: str) -> str:
    return "-" if not x else f"{si(x)}{unit}"


LAYER_MIN = 12
"""The narrowest the layer column of the time table gets (longer paths are cut with ``...``)."""


def render_time(r: TimeResult, *, depth: int | None = 2, top: int = 12, width: int | None = 100) -> str:
    """The time block of a profile, fitted to ``width`` characters (None: as wide as it comes): the layer
    column shrinks, down to :data:`LAYER_MIN`, and the other lines wrap."""
    lines = [f"Step time on {r.gpu} ({r.precision}): {seconds(r.step_s)} predicted, {r.bound}-bound"]
    lines.append(
        f"  GPU {seconds(r.gpu_s)} in {r.kernels:,} kernels"
        + (f" (optimizer {seconds(r.optimizer_s)})" if r.optimizer_s else "")
        + f"; host {seconds(r.host_s)} to issue {r.host_ops:,} ops"
    )
    split = ", ".join(f"{b} {seconds(t)}" for b, t in r.bound_s.items() if t)
    lines.append(f"  kernel time by bound: {split}")
    thr = []
    if r.samples_per_s:
        thr.append(f"{r.samples_per_s:,.1f} samples/s")
    if r.tokens_per_s:
        thr.append(f"{r.tokens_per_s:,.0f} tokens/s")
    lines.append(
        f"  throughput: {', '.join(thr) or '-'}; MFU {r.mfu:.1%} "
        f"({si(r.flops)}FLOP per step vs {r.mfu_unit} peak {si(r.mfu_peak)}FLOP/s)"
    )
    if r.measured:
        m = r.measured
        lines.append(
            f"  measured step {seconds(m.step_s)}: achieved MFU {m.mfu:.1%}; prediction is "
            f"{m.ratio:.2f}x the measurement ({m.error:+.0%})"
        )
    lines = [part for line in lines for part in _wrap(line, width)]
    lines += _layer_lines(r, depth, top, width)
    if r.assumptions:
        lines.append("")
        lines.append("  Assumptions:")
        lines += [part for a in r.assumptions for part in _wrap(f"  - {a}", width)]
    lines += [part for n in r.notes for part in _wrap(f"  Note: {n}", width)]
    return "\n".join(lines)


def _wrap(line: str, width: int | None) -> list[str]:
    """``line`` wrapped as the table's lines are (an item of a ``- `` list continues under its text)."""
    return wrap(line, width, indent="  " if line.lstrip().startswith("- ") else "    ")


def _layer_lines(r: TimeResult, depth: int | None, top: int, width: int | None) -> list[str]:
    """The per-layer table: time, share, bound, FLOP, bytes and intensity of the slowest ``top`` rows."""
    rows = rollup(r.layers, depth)
    if not rows:
        return []
    names = [row.path or "(model)" for row in rows[:top]]
    rest = rows[top:]
    if rest:
        names.append(f"({len(rest)} more)")
    fixed = 2 + 11 + 8 + 9 + 11 + 12 + 8  # the indent and the six figure columns with their spaces
    room = max(LAYER_MIN, width - fixed) if width is not None else 10 ** 6
    w = min(max(len("layer"), *(len(n) for n in names)), room)

    def cut(name: str) -> str:
        return name if len(name) <= w else name[: w - 3] + "..."

    head = f"{'time':>10} {'share':>7} {'bound':>8} {'FLOP':>10} {'bytes':>11} {'FLOP/B':>7}"
    lines = ["", f"  {'layer':<{w}} {head}"]
    for name, row in zip(names, rows[:top]):
        lines.append(
            f"  {cut(name):<{w}} {seconds(row.time_s):>10} {row.share:>7.1%} "
            f"{row.bound:>8} {si(row.flops):>10} {fmt_bytes(row.bytes):>11} {row.intensity:>7.1f}"
        )
    if rest:
        lines.append(f"  {cut(names[-1]):<{w}} {seconds(sum(x.time_s for x in rest)):>10} "
                     f"{sum(x.share for x in rest):>7.1%}")
    return lines


def render_measured(r: TimeResult) -> str:
    """One paragraph comparing a measured step with the prediction (empty without a measurement)."""
    if not r.measured:
        return ""
    m = r.measured
    return (
        f"Measured step {seconds(m.step_s)} on {r.gpu}: achieved MFU {m.mfu:.1%} "
        f"({si(r.flops)}FLOP / {seconds(m.step_s)} / {si(r.mfu_peak)}FLOP/s {r.mfu_unit} peak). "
        f"Predicted {seconds(r.step_s)}: {m.ratio:.2f}x the measurement ({m.error:+.0%})."
    )


def render_compare(results: list[TimeResult]) -> str:
    """GPUs side by side: step time, bound, throughput, MFU, GPU/host time, relative speed."""
    if not results:
        return ""
    base = results[0].step_s
    rows = [
        ("step", [seconds(r.step_s) for r in results]),
        ("speed vs first", [f"{base / r.step_s:.2f}x" if r.step_s else "-" for r in results]),
        ("bound", [r.bound for r in results]),
        ("GPU time", [seconds(r.gpu_s) for r in results]),
        ("host time", [seconds(r.host_s) for r in results]),
        ("samples/s", [f"{r.samples_per_s:,.1f}" if r.samples_per_s else "-" for r in results]),
        ("tokens/s", [f"{r.tokens_per_s:,.0f}" if r.tokens_per_s else "-" for r in results]),
        ("MFU", [f"{r.mfu:.1%}" for r in results]),
        ("MFU peak", [f"{si(r.mfu_peak)}FLOP/s" for r in results]),
        ("bandwidth", [f"{r.device.get('bandwidth', 0) / 1e12:.2f} TB/s" for r in results]),
    ]
    if any(r.measured for r in results):
        rows.append(("measured", [seconds(r.measured.step_s) if r.measured else "-" for r in results]))
    width = 2 + max(len(v) for _, values in rows for v in (*values, *(r.gpu for r in results)))
    head = f"{'':<22}" + "".join(f"{r.gpu:>{width}}" for r in results)
    lines = [f"Step time by GPU ({results[0].precision})", head]
    lines += [f"{name:<22}" + "".join(f"{v:>{width}}" for v in values) for name, values in rows]
    return "\n".join(lines)


def render_device_table(rows: list[dict]) -> str:
    """The GPU table (``netcensus.devices.table_rows()``: TFLOP/s, TB/s, GB) as text, for ``--gpu list``."""
    keys = ("fp32", "tf32", "bf16", "fp16", "fp8", "fp64")
    head = (f"{'device':<12}" + "".join(f"{k:>9}" for k in keys) + f"{'TB/s':>8}{'GB':>6}"
            f"{'arch':>8}{'SMs':>5}  source")
    lines = ["Dense peaks in TFLOP/s (fp32: the non-tensor pipe), memory bandwidth and size; architecture "
             "and SMs (CUs) size the memory's workspaces", head]
    for r in rows:
        cells = "".join(f"{r[k]:>9g}" if r.get(k) else f"{'-':>9}" for k in keys)
        source = (r.get("sources") or [""])[0]
        lines.append(f"{r['name']:<12}{cells}{r['bandwidth_tbs']:>8g}{r['memory_gb']:>6g}"
                     f"{r.get('arch') or '-':>8}{r.get('sms') or '-':>5}  {source[:60]}")
    return "\n".join(lines)


# ---- roofline ------------------------------------------------------------------------------------


def _points(r: TimeResult, by: str, depth: int | None) -> list[LayerTime | OpTime]:
    items: list[LayerTime | OpTime] = list(rollup(r.layers, depth)) if by == "layers" else list(r.ops)
    return [p for p in items if p.flops > 0 and p.bytes > 0 and p.time_s > 0]


def _roofs(r: TimeResult) -> tuple[float, list[tuple[str, float]]]:
    peaks = r.device.get("peak_flops", {})
    roofs = []
    if r.mfu_peak:
        roofs.append((f"{r.mfu_unit} peak", r.mfu_peak))
    fp32 = peaks.get("fp32")
    if fp32 and r.mfu_unit != "fp32":
        roofs.append(("fp32 pipe", fp32))
    return float(r.device.get("bandwidth", 0.0)), roofs


def roofline_svg(
    r: TimeResult, *, by: str = "layers", depth: int | None = None, width: int = 720, height: int = 460
) -> str:
    """An SVG roofline: ``by="layers"`` (module paths rolled up to ``depth``) or ``"ops"``; x = FLOPs per
    byte, y = achieved FLOP/s, both log scale; roofs: bandwidth slope and the peaks; point area ~ time
    share; colour = bound."""
    bw, roofs = _roofs(r)
    pts = _points(r, by, depth)
    ml, mr, mt, mb = 70, 20, 40, 50
    xs = [p.intensity for p in pts] or [1.0]
    ys = [p.achieved_flops for p in pts] or [1.0]
    top = max([y for _, y in roofs] + ys) * 2
    x0 = 10 ** math.floor(math.log10(max(min(xs) / 2, 1e-3)))
    x1 = 10 ** math.ceil(math.log10(max(max(xs) * 2, (top / bw) * 4 if bw else 10)))
    y0 = 10 ** math.floor(math.log10(max(min(ys) / 2, 1.0)))
    y1 = 10 ** math.ceil(math.log10(top))

    def sx(x: float) -> float:
        return ml + (math.log10(x) - math.log10(x0)) / (math.log10(x1) - math.log10(x0)) * (width - ml - mr)

    def sy(y: float) -> float:
        return (
            height
            - mb
            - (math.log10(y) - math.log10(y0)) / (math.log10(y1) - math.log10(y0)) * (height - mt - mb)
        )

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">',
        '<rect width="100%" height="100%" fill="white"/>',
        f'<text x="{ml}" y="20" font-size="13">Roofline: {html.escape(r.gpu)}, {html.escape(r.precision)} '
        f"({html.escape(by)}; predicted step {html.escape(seconds(r.step_s))})</text>",
    ]
    # axes and decades
    d = x0
    while d <= x1 * 1.0001:
        out.append(f'<line x1="{sx(d):.1f}" y1="{mt}" x2="{sx(d):.1f}" y2="{height - mb}" stroke="#eee"/>')
        out.append(f'<text x="{sx(d):.1f}" y="{height - mb + 14}" text-anchor="middle">{d:g}</text>')
        d *= 10
    d = y0
    while d <= y1 * 1.0001:
        out.append(f'<line x1="{ml}" y1="{sy(d):.1f}" x2="{width - mr}" y2="{sy(d):.1f}" stroke="#eee"/>')
        out.append(f'<text x="{ml - 4}" y="{sy(d) + 4:.1f}" text-anchor="end">{si(d, 0)}</text>')
        d *= 10
    out.append(
        f'<text x="{(ml + width - mr) / 2}" y="{height - 12}" text-anchor="middle">'
        f"arithmetic intensity (FLOP/byte)</text>"
    )
    out.append(
        f'<text x="16" y="{(mt + height - mb) / 2}" text-anchor="middle" '
        f'transform="rotate(-90 16 {(mt + height - mb) / 2})">achieved FLOP/s</text>'
    )
    # roofs
    for i, (label, peak) in enumerate(roofs):
        knee = peak / bw if bw else x0
        xa = max(x0, min(x1, knee))
        colour = "#444" if i == 0 else "#999"
        if bw:
            xl = max(x0, y0 / bw)
            out.append(
                f'<line x1="{sx(xl):.1f}" y1="{sy(max(y0, xl * bw)):.1f}" x2="{sx(xa):.1f}" '
                f'y2="{sy(min(peak, xa * bw)):.1f}" stroke="{colour}" stroke-width="1.5"/>'
            )
        out.append(
            f'<line x1="{sx(xa):.1f}" y1="{sy(peak):.1f}" x2="{sx(x1):.1f}" y2="{sy(peak):.1f}" '
            f'stroke="{colour}" stroke-width="1.5" stroke-dasharray="{"" if i == 0 else "4 3"}"/>'
        )
        out.append(
            f'<text x="{width - mr - 4}" y="{sy(peak) - 4:.1f}" text-anchor="end">'
            f"{html.escape(label)} {si(peak)}FLOP/s</text>"
        )
    if bw:
        out.append(
            f'<text x="{sx(x0) + 4:.1f}" y="{sy(max(y0, x0 * bw)) - 6:.1f}">{bw / 1e12:.2f} TB/s</text>'
        )
    colours = {"compute": "#1f77b4", "memory": "#d62728", "launch": "#7f7f7f"}
    total = sum(p.time_s for p in pts) or 1.0
    for p in sorted(pts, key=lambda p: -p.time_s):
        rad = 2.5 + 14 * math.sqrt(p.time_s / total)
        label = (
            (p.path or "(model)")
            if isinstance(p, LayerTime)
            else f"{p.op} [{p.module or '(model)'}, {p.phase}]"
        )
        out.append(
            f'<circle cx="{sx(p.intensity):.1f}" cy="{sy(p.achieved_flops):.1f}" r="{rad:.1f}" '
            f'fill="{colours.get(p.bound, "#2ca02c")}" fill-opacity="0.55" stroke="black" stroke-width="0.4">'
            f"<title>{html.escape(label)}: {html.escape(seconds(p.time_s))}, {p.bound}-bound, "
            f"{p.intensity:.1f} FLOP/B</title></circle>"
        )
    for i, (b, c) in enumerate(colours.items()):
        out.append(
            f'<circle cx="{ml + 12 + i * 90}" cy="{mt + 10}" r="5" fill="{c}" fill-opacity="0.55"/>'
            f'<text x="{ml + 20 + i * 90}" y="{mt + 14}">{b}</text>'
        )
    out.append("</svg>")
    return "\n".join(out)


def roofline_png(r: TimeResult, path: str | Path, *, by: str = "layers", depth: int | None = None) -> None:
    """The roofline as a PNG through matplotlib (:class:`SpecError` when matplotlib is missing)."""
    from .plot import pyplot

    plt = pyplot("a PNG roofline (an .svg needs no matplotlib)")
    bw, roofs = _roofs(r)
    pts = _points(r, by, depth)
    fig, ax = plt.subplots(figsize=(7.5, 4.8), dpi=120)
    xs = [p.intensity for p in pts] or [1.0]
    lo, hi = min(xs) / 2, max(max(xs) * 2, (max((y for _, y in roofs), default=1.0) / bw) * 4 if bw else 10)
    grid = [lo * (hi / lo) ** (i / 200) for i in range(201)]
    for i, (label, peak) in enumerate(roofs):
        ax.plot(
            grid,
            [min(peak, x * bw) if bw else peak for x in grid],
            color="#444" if i == 0 else "#999",
            linestyle="-" if i == 0 else "--",
            label=f"{label} {si(peak)}FLOP/s",
        )
    colours = {"compute": "#1f77b4", "memory": "#d62728", "launch": "#7f7f7f"}
    total = sum(p.time_s for p in pts) or 1.0
    for b, c in colours.items():
        sel = [p for p in pts if p.bound == b]
        if sel:
            ax.scatter(
                [p.intensity for p in sel],
                [p.achieved_flops for p in sel],
                s=[10 + 600 * p.time_s / total for p in sel],
                c=c,
                alpha=0.55,
                edgecolors="black",
                linewidths=0.4,
                label=f"{b}-bound",
            )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("arithmetic intensity (FLOP/byte)")
    ax.set_ylabel("achieved FLOP/s")
    ax.set_title(f"Roofline: {r.gpu}, {r.precision} ({by}; predicted step {seconds(r.step_s)})", fontsize=10)
    ax.legend(fontsize=7, loc="lower right")
    ax.grid(True, which="major", alpha=0.3)
    fig.tight_layout()
    fig.savefig(str(path))
    plt.close(fig)


def write_roofline(r: TimeResult, path: str | Path, *, by: str = "layers", depth: int | None = None) -> Path:
    """Write the roofline to ``path``: ``.svg`` (no dependency) or ``.png`` (matplotlib)."""
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix == ".svg":
        p.write_text(roofline_svg(r, by=by, depth=depth), encoding="utf-8")
    elif suffix == ".png":
        roofline_png(r, p, by=by, depth=depth)
    else:
        raise SpecError(
            f"cannot write a roofline chart to {str(path)!r}", fix="give a file ending in .svg or .png"
        )
    return p


def roofline_html(r: TimeResult, *, by: str = "layers", depth: int | None = None) -> str:
    """A ``<figure>`` for the HTML report: the inline SVG and a caption."""
    return (
        f'<figure class="roofline">{roofline_svg(r, by=by, depth=depth)}'
        f"<figcaption>Predicted step {html.escape(seconds(r.step_s))} on {html.escape(r.gpu)} "
        f"({html.escape(r.bound)}-bound), MFU {r.mfu:.1%}.</figcaption></figure>"
    )


__all__ = [
    "render_compare",
    "render_measured",
    "render_time",
    "roofline_html",
    "roofline_png",
    "roofline_svg",
    "seconds",
    "write_roofline",
]
