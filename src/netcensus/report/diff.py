"""``netcensus diff A B``: two profiles side by side, layer by layer, and their totals.

Layers are matched by path first; the rest by type, in order (the k-th unmatched Linear of A with the
k-th unmatched Linear of B); what is left is only in A (``-``) or only in B (``+``). A matched row whose
type, output shapes, parameters, FLOPs or bytes saved for backward differ is changed (``~``). Rows are
in tree order (a layer never called sits under its parent, as in the table), and runs of identical
blocks collapse as in the table (``h.0-11 x12``: figures per block) when they are identical on both
sides. Figures: parameters (the subtree's), FLOPs, and, for training traces, the bytes the layer saves
for backward (its own memory; the live peak is left out of the rows: it counts everything alive on the
device, so it moves with any change, and is in the totals); differences are ``B - A``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..units import exact, nbytes, ratio, si, signed, signed_bytes, signed_si
from .columns import Column
from .style import PLAIN, Style
from .table import DEFAULT_WIDTH, clip, fit_widths, wrap

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


def tree_order(pairs: list[Pair]) -> list[Pair]:
    """``pairs`` with every pair under its parent (the pair holding the longest present prefix of its
    path, on its own side), children in their first order: a layer never called comes under its parent,
    not at the end."""
    index: dict[tuple[str, str], Pair] = {}
    for p in pairs:
        if p.a is not None:
            index.setdefault(("a", p.a.path), p)
        if p.b is not None:
            index.setdefault(("b", p.b.path), p)
    kids: dict[int, list[Pair]] = defaultdict(list)
    roots: list[Pair] = []
    for p in pairs:
        side, own = ("a", p.a.path) if p.a is not None else ("b", p.b.path)  # type: ignore[union-attr]
        parent = None
        if own:
            parts = own.split(".")
            for k in range(len(parts) - 1, -1, -1):
                parent = index.get((side, ".".join(parts[:k])))
                if parent is not None and parent is not p:
                    break
                parent = None
        (kids[id(parent)] if parent is not None else roots).append(p)
    out: list[Pair] = []

    def visit(p: Pair) -> None:
        out.append(p)
        for c in kids[id(p)]:
            visit(c)

    for r in roots:
        visit(r)
    return out


def diff_rows(a: Profile, b: Profile, depth: int | None = None, changed_only: bool = False) -> list[Pair]:
    """Every matched pair, in tree order, down to ``depth`` (None: every level)."""
    pairs = tree_order(match_layers(a.layers, b.layers))
    if depth is not None:
        pairs = [p for p in pairs if p.depth <= depth]
    if changed_only:
        pairs = [p for p in pairs if p.mark != SAME]
    return pairs


LAYER, GROUP, TOTAL = "layer", "group", "total"


@dataclass(frozen=True)
class DiffRow:
    """One row as shown: a pair, a run of identical blocks (``kind`` group: figures per block), or a
    run's total."""

    kind: str
    pairs: tuple[Pair, ...]
    """The pair this row shows in every block it stands for (one for a plain row)."""
    name: str
    depth: int

    @property
    def pair(self) -> Pair:
        return self.pairs[0]

    @property
    def mark(self) -> str:
        return self.pair.mark


def _path(p: Pair) -> str:
    return p.a.path if p.a is not None else p.b.path  # type: ignore[union-attr]


def _relative(path: str, base: str) -> str:
    return path[len(base) + 1:] if base else path


def _row_sig(r: LayerRow | None) -> tuple[Any, ...] | None:
    if r is None:
        return None
    return (r.type, r.params, r.own_params, r.calls, r.not_called, tuple(tuple(s) for s in r.input_shapes),
            tuple(tuple(s) for s in r.output_shapes), r.macs, r.flops)


def collapsed_rows(a: Profile, b: Profile, depth: int | None = None, changed_only: bool = False,
                   expand: bool = False) -> list[DiffRow]:
    """The rows of the diff table: pairs in tree order, consecutive identical blocks (same numbered
    path on both sides, identical subtrees on each side and the same marks) collapsed unless ``expand``."""
    ordered = tree_order(match_layers(a.layers, b.layers))
    kids: dict[int, list[Pair]] = defaultdict(list)
    stack: list[Pair] = []
    top: list[Pair] = []
    for p in ordered:
        while stack and stack[-1].depth >= p.depth:
            stack.pop()
        (kids[id(stack[-1])] if stack else top).append(p)
        stack.append(p)

    def sig(p: Pair) -> tuple[Any, ...]:
        pa, pb = (p.a.path if p.a else ""), (p.b.path if p.b else "")
        return (p.mark, _row_sig(p.a), _row_sig(p.b),
                tuple((_relative(c.a.path, pa) if c.a else None, _relative(c.b.path, pb) if c.b else None,
                       sig(c)) for c in kids[id(p)]))

    def number(p: Pair) -> tuple[str, int] | None:
        if p.a is not None and p.b is not None and p.a.path != p.b.path:
            return None
        head, _, last = _path(p).rpartition(".")
        return (head, int(last)) if last.isdigit() else None

    def runs(children: list[Pair]) -> list[list[Pair]]:
        out: list[list[Pair]] = []
        for c in children:
            if out and not expand:
                prev = out[-1][-1]
                x, y = number(prev), number(c)
                if x is not None and y is not None and x[0] == y[0] and y[1] == x[1] + 1 \
                        and sig(prev) == sig(c):
                    out[-1].append(c)
                    continue
            out.append([c])
        return out

    rows: list[DiffRow] = []

    def emit(blocks: list[Pair], name: str, kind: str, base_new: str, base_old: str) -> None:
        rows.append(DiffRow(kind, tuple(blocks), name, blocks[0].depth))
        first = blocks[0]
        groups = [[c] for c in kids[id(first)]] if len(blocks) > 1 else runs(kids[id(first)])
        for run in groups:
            if len(run) == 1:
                k = kids[id(first)].index(run[0])
                same = [kids[id(bl)][k] for bl in blocks]
                path = _path(run[0])
                shown = base_new + path[len(base_old):] if base_old and path.startswith(base_old) else None
                emit(same, shown or "", LAYER, base_new, base_old)
            else:
                head, lo = number(run[0])  # type: ignore[misc]
                new = f"{head}.{lo}-{lo + len(run) - 1}"
                emit(run, f"{new} x{len(run)}", GROUP, new, _path(run[0]))
                rows.append(DiffRow(TOTAL, tuple(run), f"= {new} total", run[0].depth))

    for p in top:
        emit([p], "", LAYER, "", "")
    out = [r for r in rows if depth is None or r.depth <= depth]
    if changed_only:
        def run(r: DiffRow) -> tuple[int, ...]:
            return tuple(id(p) for p in r.pairs)

        changed_groups = {run(r) for r in out if r.kind == GROUP and r.mark != SAME}
        out = [r for r in out if (r.mark != SAME if r.kind != TOTAL else run(r) in changed_groups)]
    return out


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
    cols = [_col("mark", "", 1001, False), _col("name", "Layer", 1000, False),
            _col("type", "Type", 40, False, 10), _col("output", "Output shape", 30, False, 14),
            _col("pa", f"Params {la}", 84, True), _col("pb", f"Params {lb}", 85, True),
            _col("dp", "dParams", 95, True),
            _col("fa", f"FLOPs {la}", 79, True), _col("fb", f"FLOPs {lb}", 80, True),
            _col("df", "dFLOPs", 90, True)]
    if memory:
        cols += [_col("sa", f"Saved {la}", 69, True), _col("sb", f"Saved {lb}", 70, True),
                 _col("ds", "dSaved", 75, True)]
    body: list[list[str]] = []
    for r in rows:
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
        body.append(cells)
    headers = [c.header for c in cols]
    natural = [max([len(h)] + [len(row[i]) for row in body]) for i, h in enumerate(headers)]
    limit = width or DEFAULT_WIDTH
    widths, dropped = fit_widths(cols, natural, limit, clip_name=width is not None)
    keep = [i for i in range(len(cols)) if i not in dropped]
    deltas = {i for i, c in enumerate(cols) if c.key in ("dp", "df", "ds")}

    def line(cells: list[str], mark: str | None) -> str:
        out = []
        for i in keep:
            c = clip(cells[i], widths[i])
            t = c.rjust(widths[i]) if cols[i].right else c.ljust(widths[i])
            if mark == CHANGED and i in deltas and c not in ("", "0"):
                t = style.yellow(t)
            out.append(t)
        text = "  ".join(out).rstrip()
        if mark == ONLY_A:
            return style.red(text)
        if mark == ONLY_B:
            return style.green(text)
        return text

    def title(label: str, p: Profile) -> str:
        return f"{label}: {p.model} | input {p.inputs} | {p.mode} mode" + (", train" if p.train else "")

    rule = sum(widths[i] for i in keep) + 2 * (len(keep) - 1)
    lines = [style.bold(t) for t in wrap(title(la, a), limit) + wrap(title(lb, b), limit)]
    lines += [style.bold(line(headers, None)), "-" * rule]
    lines.extend(line(cells, r.mark if r.kind != TOTAL else None) for cells, r in zip(body, rows))
    lines.append("=" * rule)
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
    counts = {m: sum(1 for p in match_layers(a.layers, b.layers) if p.mark == m)
              for m in (SAME, CHANGED, ONLY_A, ONLY_B)}
    legend = (f"Layers: {counts[SAME]} same, {counts[CHANGED]} changed (~), {counts[ONLY_A]} only in {la} "
              "(-), "
              f"{counts[ONLY_B]} only in {lb} (+); matched by path, then by type in order. Differences are "
              f"{lb} - {la}" + ("; Saved: bytes the layer saves for backward." if memory else "."))
    lines += wrap(legend, limit)
    return "\n".join(lines)


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
