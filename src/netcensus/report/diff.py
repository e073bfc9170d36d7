"""``netcensus diff A B``: two profiles side by side, layer by layer, and their totals.

The rows (:mod:`.diff_rows`): layers matched by path first, the rest by type in order; what is left is
only in A (``-``) or only in B (``+``); a matched row whose type, output shapes, parameters, FLOPs or bytes
saved for backward differ is changed (``~``); tree order, runs of identical blocks collapsed as in the
table (``h.0-11 x12``: figures per block) when they are identical on both sides. Figures: parameters (the
subtree's), FLOPs, and, for training traces, the bytes the layer saves for backward (its own memory; the
live peak is left out of the rows: it counts everything alive on the device, so it moves with any change,
and is in the totals); differences are ``B - A``. This module renders them as text
(:func:`render_diff`, :func:`totals_table`) and as JSON data (:func:`diff_dict`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..units import exact, nbytes, ratio, si, signed, signed_bytes, signed_si
from .columns import Column
from .diff_rows import (
    CHANGED,
    GROUP,
    LAYER,
    ONLY_A,
    ONLY_B,
    SAME,
    TOTAL,
    DiffRow,
    Pair,
    collapsed_rows,
    diff_rows,
    match_layers,
    tree_order,
)
from .style import PLAIN, Style
from .table import DEFAULT_WIDTH, clip, fit_widths, runs, wrap

if TYPE_CHECKING:
    from ..results.profile import LayerRow, Profile

__all__ = [
    "CHANGED", "GROUP", "LAYER", "ONLY_A", "ONLY_B", "SAME", "TOTAL", "TOTALS", "DiffRow", "Pair",
    "collapsed_rows", "diff_dict", "diff_rows", "match_layers", "render_diff", "totals_table", "tree_order",
]


TotalFn = Callable[["Profile"], "int | None"]


def _compute(attr: str, phase: str = "total") -> TotalFn:
    def get(p: Profile) -> int | None:
        return None if p.compute is None else getattr(getattr(p.compute.totals, phase), attr)
    return get


def _memory(attr: str) -> TotalFn:
    return lambda p: None if p.memory is None else getattr(p.memory, attr)


TOTALS: tuple[tuple[str, TotalFn, str], ...] = (
    ("Total params", lambda p: p.total_params, "count"),
    ("trainable params", lambda p: p.trainable_params, "count"),
    ("buffers (elements)", lambda p: p.buffers, "count"),
    ("param bytes", lambda p: p.param_bytes, "bytes"),
    ("MACs", _compute("macs"), "si"),
    ("core MACs", _compute("core_macs"), "si"),
    ("FLOPs", _compute("flops"), "si"),
    ("forward FLOPs", _compute("flops", "forward"), "si"),
    ("backward FLOPs", _compute("flops", "backward"), "si"),
    ("memory: weights", _memory("weights"), "bytes"),
    ("memory: gradients", _memory("gradients"), "bytes"),
    ("memory: optimizer state", _memory("optimizer"), "bytes"),
    ("memory: activations saved", _memory("activations"), "bytes"),
    ("memory: peak", _memory("peak"), "bytes"),
)


def _fmt(kind: str, n: int | None) -> str:
    if n is None:
        return "-"
    if kind == "bytes":
        return nbytes(n)
    if kind == "si":
        return f"{exact(n)} ({si(n)})"
    return exact(n)


def _delta(kind: str, d: int) -> str:
    return signed_bytes(d) if kind == "bytes" else signed(d)


def _shape_text(a: LayerRow | None, b: LayerRow | None) -> str:
    ta = a.output_text if a is not None else ""
    tb = b.output_text if b is not None else ""
    if a is None:
        return tb
    if b is None or ta == tb:
        return ta
    return f"{ta} -> {tb}"


def _name(r: DiffRow, a_model: str, b_model: str) -> str:
    p = r.pair
    if r.name:
        return "  " * r.depth + r.name
    ra, rb = p.a, p.b
    name_a = (ra.path or a_model) if ra is not None else None
    name_b = (rb.path or b_model) if rb is not None else None
    if name_a is None:
        text = str(name_b)
    elif name_b is None or name_a == name_b:
        text = name_a
    else:
        text = f"{name_a} -> {name_b}"
    return "  " * r.depth + text


def _side(r: DiffRow, side: str, attr: str) -> list[int] | None:
    """The figure ``attr`` of one side over the blocks of the row (None when the side has no row)."""
    rows = [getattr(p, side) for p in r.pairs]
    if any(x is None for x in rows):
        return None
    return [int(getattr(x, attr)) for x in rows]


def _cells(r: DiffRow, attr: str, fmt: Callable[[int], str], dfmt: Callable[[int], str]) -> list[str]:
    va, vb = _side(r, "a", attr), _side(r, "b", attr)

    def show(v: list[int] | None) -> str:
        if v is None:
            return ""
        if r.kind == TOTAL:
            return fmt(sum(v))
        lo, hi = min(v), max(v)
        return fmt(lo) if lo == hi else f"{fmt(lo)}-{fmt(hi)}"

    if va is None or vb is None:
        return [show(va), show(vb), ""]
    deltas = [y - x for x, y in zip(va, vb)]
    if r.kind == TOTAL:
        d = dfmt(sum(deltas))
    else:
        d = dfmt(deltas[0]) if min(deltas) == max(deltas) else f"{dfmt(min(deltas))}..{dfmt(max(deltas))}"
    return [show(va), show(vb), d]


def _col(key: str, header: str, priority: int, right: bool, min_width: int = 0) -> Column:
    return Column(key, header, priority, right, lambda d: "", lambda d: "", min_width=min_width)


def render_diff(a: Profile, b: Profile, *, depth: int | None = None, changed_only: bool = False,
                style: Style = PLAIN, labels: tuple[str, str] = ("A", "B"), width: int | None = None,
                expand: bool = False) -> str:
    """The diff table and the totals. ``width``: fit that many characters (default: 100, leaving out
    the columns of least priority, said under the table); ``expand``: every block of a run."""
    la, lb = labels
    rows = collapsed_rows(a, b, depth, changed_only, expand)
    memory = any(r.saved_bytes for p in (a, b) for r in p.layers)
    cols = _columns(la, lb, memory)
    body = [_row_cells(r, a, b, memory) for r in rows]
    headers = [c.header for c in cols]
    natural = [max([len(h)] + [len(row[i]) for row in body]) for i, h in enumerate(headers)]
    limit = width or DEFAULT_WIDTH
    widths, dropped = fit_widths(cols, natural, limit, clip_name=width is not None)
    table = _Lines(cols, widths, [i for i in range(len(cols)) if i not in dropped], style)
    lines = [style.bold(t) for t in wrap(_title(la, a), limit) + wrap(_title(lb, b), limit)]
    lines += [style.bold(table.line(headers, None)), "-" * table.rule]
    lines.extend(table.line(cells, r.mark if r.kind != TOTAL else None) for cells, r in zip(body, rows))
    lines.append("=" * table.rule)
    notes = []
    if dropped:
        notes.append(f"(left out to fit {limit} characters: {', '.join(cols[i].header for i in dropped)}; "
                     "give a larger --width)")
    if depth is not None and any(r.depth > depth for p in (a, b) for r in p.layers):
        notes.append(f"(rows deeper than depth {depth} are hidden; --all shows every level)")
    if any(r.kind == GROUP for r in rows):
        notes.append("Rows 'a.0-N xK' are K consecutive blocks identical on both sides: figures per block; "
                     "'= ... total' rows sum them.")
    lines += [t for n in notes for t in wrap(n, limit)]
    lines.extend(totals_table(a, b, labels, style, width=limit))
    lines += wrap(_legend(a, b, la, lb, memory), limit)
    return "\n".join(lines)


def _columns(la: str, lb: str, memory: bool) -> list[Column]:
    """The diff table's columns; the saved-bytes ones only when ``memory``."""
    cols = [_col("mark", "", 1001, False), _col("name", "Layer", 1000, False),
            _col("type", "Type", 40, False, 10), _col("output", "Output shape", 30, False, 14),
            _col("pa", f"Params {la}", 84, True), _col("pb", f"Params {lb}", 85, True),
            _col("dp", "dParams", 95, True),
            _col("fa", f"FLOPs {la}", 79, True), _col("fb", f"FLOPs {lb}", 80, True),
            _col("df", "dFLOPs", 90, True)]
    if memory:
        cols += [_col("sa", f"Saved {la}", 69, True), _col("sb", f"Saved {lb}", 70, True),
                 _col("ds", "dSaved", 75, True)]
    return cols


def _row_cells(r: DiffRow, a: Profile, b: Profile, memory: bool) -> list[str]:
    """The text of every column of one row."""
    ra, rb = r.pair.a, r.pair.b
    if r.kind == TOTAL:
        typ, shape = "", ""
    elif ra is not None and rb is not None and ra.type != rb.type:
        typ, shape = f"{ra.type} -> {rb.type}", _shape_text(ra, rb)
    else:
        typ, shape = (ra or rb).type, _shape_text(ra, rb)  # type: ignore[union-attr]
    cells = [r.mark if r.kind != TOTAL else " ", _name(r, a.model, b.model), typ, shape]
    cells += _cells(r, "params", exact, signed) + _cells(r, "flops", si, signed_si)
    if memory:
        cells += _cells(r, "saved_bytes", nbytes, signed_bytes)
    return cells


@dataclass(frozen=True)
class _Lines:
    """Lines of the diff table: the ``keep`` columns at their ``widths``, coloured by mark."""

    cols: list[Column]
    widths: list[int]
    keep: list[int]
    style: Style

    @property
    def rule(self) -> int:
        return sum(self.widths[i] for i in self.keep) + 2 * (len(self.keep) - 1)

    def line(self, cells: list[str], mark: str | None) -> str:
        deltas = {i for i, c in enumerate(self.cols) if c.key in ("dp", "df", "ds")}
        out = []
        for i in self.keep:
            c = clip(cells[i], self.widths[i])
            t = c.rjust(self.widths[i]) if self.cols[i].right else c.ljust(self.widths[i])
            if mark == CHANGED and i in deltas and c not in ("", "0"):
                t = self.style.yellow(t)
            out.append(t)
        text = "  ".join(out).rstrip()
        if mark == ONLY_A:
            return self.style.red(text)
        if mark == ONLY_B:
            return self.style.green(text)
        return text


def _title(label: str, p: Profile) -> str:
    return (f"{label}: {p.model} | input {runs(p.inputs)} | {p.mode} mode"
            + (", forward + backward" if p.train else ""))


def _legend(a: Profile, b: Profile, la: str, lb: str, memory: bool) -> str:
    """How many layers are the same, changed, or on one side only; how they were matched."""
    counts = {m: sum(1 for p in match_layers(a.layers, b.layers) if p.mark == m)
              for m in (SAME, CHANGED, ONLY_A, ONLY_B)}
    return (f"Layers: {counts[SAME]} same, {counts[CHANGED]} changed (~), {counts[ONLY_A]} only in {la} "
            "(-), "
            f"{counts[ONLY_B]} only in {lb} (+); matched by path, then by type in order. Differences are "
            f"{lb} - {la}" + ("; Saved: bytes the layer saves for backward." if memory else "."))


def _d(x: int | None, y: int | None, fmt: Callable[[int], str]) -> str:
    if x is None or y is None:
        return ""
    return fmt(y - x)


def totals_table(a: Profile, b: Profile, labels: tuple[str, str] = ("A", "B"),
                 style: Style = PLAIN, width: int | None = None) -> list[str]:
    """The totals side by side; to fit ``width``, counts in SI only, then without the change column."""

    def table(short: bool) -> list[list[str]]:
        rows = [["Total", labels[0], labels[1], "difference", "change"]]
        for label, get, kind in TOTALS:
            va, vb = get(a), get(b)
            if va is None and vb is None or (not va and not vb):
                continue
            fmt = (lambda k, n: "-" if n is None else si(n)) if short and kind == "si" else _fmt
            delta = "" if va is None or vb is None else (
                signed_si(vb - va) if short and kind == "si" else _delta(kind, vb - va))
            change = "" if va is None or vb is None else ratio(vb, va)
            rows.append([label, fmt(kind, va), fmt(kind, vb), delta, change])
        return rows

    def size(rows: list[list[str]], n: int) -> int:
        return sum(max(len(r[i]) for r in rows) for i in range(n)) + 2 * (n - 1)

    rows, n = table(False), 5
    if width is not None and size(rows, n) > width:
        rows = table(True)
        if size(rows, n) > width:
            n = 4
    widths = [max(len(r[i]) for r in rows) for i in range(n)]
    out = []
    for k, r in enumerate(rows):
        text = "  ".join(c.ljust(widths[i]) if i == 0 else c.rjust(widths[i]) for i, c in enumerate(r[:n]))
        if k and r[3] not in ("", "0"):
            text = style.yellow(text)
        out.append(style.bold(text) if k == 0 else text)
    return out


def diff_dict(a: Profile, b: Profile, depth: int | None = None, changed_only: bool = False) -> dict[str, Any]:
    """The diff as JSON data: both sides' identity, the totals and the matched layers."""
    from ..results.schema import SCHEMA_VERSION

    def side(p: Profile) -> dict[str, Any]:
        return {"model": p.model, "inputs": p.inputs, "mode": p.mode, "train": p.train}

    totals = []
    for label, get, _ in TOTALS:
        va, vb = get(a), get(b)
        totals.append({"name": label, "a": va, "b": vb,
                       "difference": None if va is None or vb is None else vb - va})
    layers = []
    for p in diff_rows(a, b, depth, changed_only):
        entry: dict[str, Any] = {"mark": p.mark.strip() or "=", "matched_by": p.matched_by,
                                 "a": None, "b": None}
        for key, r in (("a", p.a), ("b", p.b)):
            if r is not None:
                entry[key] = {"path": r.path, "type": r.type,
                              "output_shapes": [list(s) for s in r.output_shapes], "params": r.params,
                              "own_params": r.own_params, "macs": r.macs, "flops": r.flops,
                              "peak_bytes": r.peak_bytes, "saved_bytes": r.saved_bytes}
        layers.append(entry)
    return {"schema_version": SCHEMA_VERSION, "kind": "netcensus-diff", "a": side(a), "b": side(b),
            "totals": totals, "layers": layers}
