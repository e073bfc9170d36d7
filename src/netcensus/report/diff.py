"""``netcensus diff A B``: two profiles side by side, layer by layer, and their totals.

Layers are matched by path first; the rest by type, in order (the k-th unmatched Linear of A with the
k-th unmatched Linear of B); what is left is only in A (``-``) or only in B (``+``). A matched row whose
type, output shapes, parameters, FLOPs or bytes saved for backward differ is changed (``~``); the live
peak is shown but does not mark a row (it counts everything alive, so it moves with any change).
Figures: parameters (the subtree's), FLOPs, and the live peak while the module runs; differences are
``B - A``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .style import PLAIN, Style
from ..units import exact, nbytes, ratio, si, signed, signed_bytes, signed_si

if TYPE_CHECKING:
    from ..results.profile import LayerRow, Profile

SAME, CHANGED, ONLY_A, ONLY_B = " ", "~", "-", "+"


@dataclass(frozen=True)
class Pair:
    a: LayerRow | None
    b: LayerRow | None
    matched_by: str
    """``path``, ``type`` (same type, in order), or ``""`` when the row is on one side only."""

    @property
    def mark(self) -> str:
        if self.a is None:
            return ONLY_B
        if self.b is None:
            return ONLY_A
        a, b = self.a, self.b
        same = (a.type == b.type and a.params == b.params and a.own_params == b.own_params
                and a.flops == b.flops and a.macs == b.macs and a.saved_bytes == b.saved_bytes
                and [tuple(s) for s in a.output_shapes] == [tuple(s) for s in b.output_shapes])
        return SAME if same else CHANGED

    @property
    def depth(self) -> int:
        return min(r.depth for r in (self.a, self.b) if r is not None)


def match_layers(a: list[LayerRow], b: list[LayerRow]) -> list[Pair]:
    """Pairs in A's order, each B-only row placed after the pair of the B row before it."""
    b_paths = {r.path: r for r in b}
    pair_of_a: dict[int, Pair] = {}
    used_b: set[str] = set()
    for i, r in enumerate(a):
        other = b_paths.get(r.path)
        if other is not None:
            pair_of_a[i] = Pair(r, other, "path")
            used_b.add(r.path)
    left_b: dict[str, list[LayerRow]] = defaultdict(list)
    for r in b:
        if r.path not in used_b:
            left_b[r.type].append(r)
    for i, r in enumerate(a):
        if i in pair_of_a:
            continue
        candidates = left_b.get(r.type)
        if candidates:
            other = candidates.pop(0)
            pair_of_a[i] = Pair(r, other, "type")
            used_b.add(other.path)
        else:
            pair_of_a[i] = Pair(r, None, "")
    pairs = [pair_of_a[i] for i in range(len(a))]
    b_position = {p.b.path: k for k, p in enumerate(pairs) if p.b is not None}
    inserts: dict[int, list[Pair]] = defaultdict(list)
    last = -1
    for r in b:
        if r.path in used_b:
            last = b_position[r.path]
        else:
            inserts[last].append(Pair(None, r, ""))
    out = list(inserts.get(-1, []))
    for k, p in enumerate(pairs):
        out.append(p)
        out.extend(inserts.get(k, []))
    return out


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


def diff_rows(a: Profile, b: Profile, depth: int | None = None, changed_only: bool = False) -> list[Pair]:
    pairs = match_layers(a.layers, b.layers)
    if depth is not None:
        pairs = [p for p in pairs if p.depth <= depth]
    if changed_only:
        pairs = [p for p in pairs if p.mark != SAME]
    return pairs


def _name(p: Pair, a_model: str, b_model: str) -> str:
    ra, rb = p.a, p.b
    name_a = (ra.path or a_model) if ra is not None else None
    name_b = (rb.path or b_model) if rb is not None else None
    if name_a is None:
        text = str(name_b)
    elif name_b is None or name_a == name_b:
        text = name_a
    else:
        text = f"{name_a} -> {name_b}"
    return "  " * p.depth + text


def render_diff(a: Profile, b: Profile, *, depth: int | None = None, changed_only: bool = False,
                style: Style = PLAIN, labels: tuple[str, str] = ("A", "B")) -> str:
    la, lb = labels
    pairs = diff_rows(a, b, depth, changed_only)
    headers = ["", "Layer", "Type", "Output shape", f"Params {la}", f"Params {lb}", "dParams",
               f"FLOPs {la}", f"FLOPs {lb}", "dFLOPs", f"Peak {la}", f"Peak {lb}", "dPeak"]
    right = set(range(4, 13))
    body: list[list[str]] = []
    for p in pairs:
        ra, rb = p.a, p.b
        if ra is not None and rb is not None and ra.type != rb.type:
            typ = f"{ra.type} -> {rb.type}"
        else:
            typ = (ra or rb).type  # type: ignore[union-attr]
        pa, pb = (ra.params if ra else None), (rb.params if rb else None)
        fa, fb = (ra.flops if ra else None), (rb.flops if rb else None)
        ka, kb = (ra.peak_bytes if ra else None), (rb.peak_bytes if rb else None)
        body.append([
            p.mark, _name(p, a.model, b.model), typ, _shape_text(ra, rb),
            "" if pa is None else exact(pa), "" if pb is None else exact(pb), _d(pa, pb, signed),
            "" if fa is None else si(fa), "" if fb is None else si(fb), _d(fa, fb, signed_si),
            "" if ka is None else nbytes(ka), "" if kb is None else nbytes(kb), _d(ka, kb, signed_bytes),
        ])
    widths = [max([len(h)] + [len(r[i]) for r in body]) for i, h in enumerate(headers)]

    def line(cells: list[str], mark: str | None) -> str:
        out = []
        for i, c in enumerate(cells):
            t = c.rjust(widths[i]) if i in right else c.ljust(widths[i])
            if mark == CHANGED and i in (6, 9, 12) and c not in ("", "0"):
                t = style.yellow(t)
            out.append(t)
        text = "  ".join(out).rstrip()
        if mark == ONLY_A:
            return style.red(text)
        if mark == ONLY_B:
            return style.green(text)
        return text

    def title(label: str, p: Profile) -> str:
        return f"{label}: {p.model}  |  input {p.inputs}  |  {p.mode} mode" + (", train" if p.train else "")

    width = sum(widths) + 2 * (len(widths) - 1)
    lines = [style.bold(title(la, a)), style.bold(title(lb, b)), style.bold(line(headers, None)), "-" * width]
    lines.extend(line(r, p.mark) for r, p in zip(body, pairs))
    lines.append("=" * width)
    lines.extend(totals_table(a, b, labels, style))
    counts = {m: sum(1 for p in match_layers(a.layers, b.layers) if p.mark == m)
              for m in (SAME, CHANGED, ONLY_A, ONLY_B)}
    lines.append(f"Layers: {counts[SAME]} same, {counts[CHANGED]} changed (~), {counts[ONLY_A]} only in {la} "
                 f"(-), {counts[ONLY_B]} only in {lb} (+); matched by path, then by type in order. "
                 f"Differences are {lb} - {la}; Peak is the live bytes while the module runs.")
    return "\n".join(lines)


def _d(x: int | None, y: int | None, fmt: Callable[[int], str]) -> str:
    if x is None or y is None:
        return ""
    return fmt(y - x)


def totals_table(a: Profile, b: Profile, labels: tuple[str, str] = ("A", "B"),
                 style: Style = PLAIN) -> list[str]:
    rows = [["Total", labels[0], labels[1], "difference", "change"]]
    for label, get, kind in TOTALS:
        va, vb = get(a), get(b)
        if va is None and vb is None or (not va and not vb):
            continue
        delta = "" if va is None or vb is None else _delta(kind, vb - va)
        change = "" if va is None or vb is None else ratio(vb, va)
        rows.append([label, _fmt(kind, va), _fmt(kind, vb), delta, change])
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    out = []
    for k, r in enumerate(rows):
        text = "  ".join(c.ljust(widths[i]) if i == 0 else c.rjust(widths[i]) for i, c in enumerate(r))
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
