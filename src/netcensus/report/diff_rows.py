"""The rows of ``netcensus diff A B``: two profiles' layers matched, put in tree order and collapsed.

Layers are matched by path first; the rest by type, in order (the k-th unmatched Linear of A with the
k-th unmatched Linear of B); what is left is only in A (``-``) or only in B (``+``). A matched row whose
type, output shapes, parameters, FLOPs or bytes saved for backward differ is changed (``~``). Rows are
in tree order (a layer never called sits under its parent, as in the table), and runs of identical
blocks collapse as in the table (``h.0-11 x12``: figures per block) when they are identical on both
sides. :mod:`.diff` renders them.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

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
    return _with_b_only(pairs, b, used_b)


def _with_b_only(pairs: list[Pair], b: list[LayerRow], used_b: set[str]) -> list[Pair]:
    """``pairs`` with each unmatched row of B after the pair of the B row before it."""
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


def _number(p: Pair) -> tuple[str, int] | None:
    """(parent path, index) of a numbered block with the same path on both sides; None otherwise."""
    if p.a is not None and p.b is not None and p.a.path != p.b.path:
        return None
    head, _, last = _path(p).rpartition(".")
    return (head, int(last)) if last.isdigit() else None


class _Collapse:
    """The pairs in tree order as a tree (``top``, ``kids``), emitted as rows with runs collapsed."""

    def __init__(self, ordered: list[Pair], expand: bool):
        self.expand = expand
        self.kids: dict[int, list[Pair]] = defaultdict(list)
        self.top: list[Pair] = []
        self.rows: list[DiffRow] = []
        stack: list[Pair] = []
        for p in ordered:
            while stack and stack[-1].depth >= p.depth:
                stack.pop()
            (self.kids[id(stack[-1])] if stack else self.top).append(p)
            stack.append(p)

    def sig(self, p: Pair) -> tuple[Any, ...]:
        """What must be equal for two blocks to collapse: marks, rows and subtrees, paths relative."""
        pa, pb = (p.a.path if p.a else ""), (p.b.path if p.b else "")
        return (p.mark, _row_sig(p.a), _row_sig(p.b),
                tuple((_relative(c.a.path, pa) if c.a else None, _relative(c.b.path, pb) if c.b else None,
                       self.sig(c)) for c in self.kids[id(p)]))

    def runs(self, children: list[Pair]) -> list[list[Pair]]:
        """``children`` in runs of consecutive numbered blocks with equal signatures."""
        out: list[list[Pair]] = []
        for c in children:
            if out and not self.expand:
                prev = out[-1][-1]
                x, y = _number(prev), _number(c)
                if x is not None and y is not None and x[0] == y[0] and y[1] == x[1] + 1 \
                        and self.sig(prev) == self.sig(c):
                    out[-1].append(c)
                    continue
            out.append([c])
        return out

    def emit(self, blocks: list[Pair], name: str, kind: str, base_new: str, base_old: str) -> None:
        """The row of ``blocks`` (one pair, or the same pair in each block of a run), then its children."""
        self.rows.append(DiffRow(kind, tuple(blocks), name, blocks[0].depth))
        first = blocks[0]
        kids = self.kids[id(first)]
        groups = [[c] for c in kids] if len(blocks) > 1 else self.runs(kids)
        for run in groups:
            if len(run) == 1:
                k = kids.index(run[0])
                same = [self.kids[id(bl)][k] for bl in blocks]
                path = _path(run[0])
                shown = base_new + path[len(base_old):] if base_old and path.startswith(base_old) else None
                self.emit(same, shown or "", LAYER, base_new, base_old)
            else:
                head, lo = _number(run[0])  # type: ignore[misc]
                new = f"{head}.{lo}-{lo + len(run) - 1}"
                self.emit(run, f"{new} x{len(run)}", GROUP, new, _path(run[0]))
                self.rows.append(DiffRow(TOTAL, tuple(run), f"= {new} total", run[0].depth))


def collapsed_rows(a: Profile, b: Profile, depth: int | None = None, changed_only: bool = False,
                   expand: bool = False) -> list[DiffRow]:
    """The rows of the diff table: pairs in tree order, consecutive identical blocks (same numbered
    path on both sides, identical subtrees on each side and the same marks) collapsed unless ``expand``."""
    tree = _Collapse(tree_order(match_layers(a.layers, b.layers)), expand)
    for p in tree.top:
        tree.emit([p], "", LAYER, "", "")
    out = [r for r in tree.rows if depth is None or r.depth <= depth]
    if changed_only:
        out = _changed(out)
    return out


def _changed(rows: list[DiffRow]) -> list[DiffRow]:
    """The changed rows, and the totals of the changed runs."""
    def run(r: DiffRow) -> tuple[int, ...]:
        return tuple(id(p) for p in r.pairs)

    changed_groups = {run(r) for r in rows if r.kind == GROUP and r.mark != SAME}
    return [r for r in rows if (r.mark != SAME if r.kind != TOTAL else run(r) in changed_groups)]
