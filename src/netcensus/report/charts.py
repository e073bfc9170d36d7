"""Where the parameters, FLOPs and memory go: bar data for the HTML charts and ``--plot``.

Three kinds of bars, each summing to its total:

* by module: starting from the root, the largest module is replaced by its children while at most
  ``limit`` bars result; a module's own share (what its children do not account for) is its own bar.
  Repeated blocks count as one bar ``layers.0-79 x80`` with the total of all the blocks.
  Parameters are summed from each module's *own* parameters, so a shared tensor counts once.
* by layer type: own parameters, and exclusive FLOPs (a module's minus its children's), per class.
* memory at the peak, by category (weights, gradients, optimizer state, activations, ...).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..units import exact, nbytes, percent, si
from .tree import TOTAL, DisplayRow, build_tree, display_rows, walk

if TYPE_CHECKING:
    from ..results.profile import Profile


@dataclass(frozen=True)
class Bar:
    label: str
    value: int
    text: str
    """The value formatted (SI, IEC) with its share of the total."""


@dataclass(frozen=True)
class Chart:
    key: str
    title: str
    total: int
    total_text: str
    bars: tuple[Bar, ...]


def _bars(items: list[tuple[str, int]], total: int, fmt: Callable[[int], str]) -> tuple[Bar, ...]:
    return tuple(Bar(label, v, f"{fmt(v)} ({percent(v, total)})") for label, v in items if v > 0)


def _by_module(profile: Profile, attr: str, limit: int, inclusive: bool) -> list[tuple[str, int]]:
    rows = [d for d in display_rows(profile, None) if d.kind != TOTAL]
    kids: dict[str | None, list[DisplayRow]] = defaultdict(list)
    for d in rows:
        kids[d.parent_key].append(d)

    memo: dict[str, int] = {}

    def own_sum(d: DisplayRow) -> int:
        """One block's figure summed from the own figures of its subtree (a collapsed group of K
        blocks under it counts K times)."""
        if d.key not in memo:
            memo[d.key] = d.figure(attr) + sum(own_sum(c) * (c.count // d.count) for c in kids[d.key])
        return memo[d.key]

    def value(d: DisplayRow) -> int:
        """What the row accounts for in the whole model (all blocks of a group)."""
        if not inclusive:
            return own_sum(d) * d.count
        if d.key not in memo:  # a container that never ran may lack the figures its children have
            mine = sum(int(getattr(m, attr)) for m in d.members) if d.members else d.figure(attr)
            memo[d.key] = max(mine, sum(value(c) for c in kids[d.key]))
        return memo[d.key]

    def label(d: DisplayRow) -> str:
        if d.key == "":
            return d.name
        times = f" x{d.count}" if d.count > 1 and d.kind != "group" else ""
        return f"{d.name} ({d.row.type}{times})"

    root = rows[0]
    frontier: list[tuple[str, int, DisplayRow | None]] = [(label(root), value(root), root)]
    while True:
        expandable = [item for item in frontier if item[2] is not None and kids[item[2].key]]
        if not expandable:
            break
        best = max(expandable, key=lambda item: item[1])
        node = best[2]
        assert node is not None
        children = kids[node.key]
        new: list[tuple[str, int, DisplayRow | None]] = [(label(c), value(c), c) for c in children]
        rest = best[1] - sum(v for _, v, _ in new)
        if rest > 0:
            new.append((f"{label(node)} (own)", rest, None))
        if len(frontier) - 1 + len(new) > limit:
            if len(frontier) > 1:
                break
            new.sort(key=lambda item: -item[1])  # one bar says nothing: show the largest children
            others = new[limit - 1:]
            new = new[:limit - 1] + [(f"{len(others)} other modules", sum(v for _, v, _ in others), None)]
            frontier = new
            break
        i = frontier.index(best)
        frontier[i:i + 1] = new
    out = [(lab, v) for lab, v, _ in frontier]
    return sorted(out, key=lambda item: -item[1])


def _by_type(profile: Profile, attr: str) -> list[tuple[str, int]]:
    totals: dict[str, int] = defaultdict(int)
    if attr == "own_params":
        for r in profile.layers:
            totals[r.type] += r.own_params
    else:
        for node in walk(build_tree(profile.layers)):
            own = getattr(node.row, attr) - sum(getattr(c.row, attr) for c in node.children)
            totals[node.row.type] += max(own, 0)
    return sorted(totals.items(), key=lambda item: (-item[1], item[0]))


def _top(items: list[tuple[str, int]], limit: int, other: str) -> list[tuple[str, int]]:
    if len(items) <= limit:
        return items
    rest = sum(v for _, v in items[limit - 1:])
    return items[: limit - 1] + [(other, rest)]


MEMORY_LABELS = {
    "weights": "weights", "buffers": "buffers", "inputs": "inputs", "gradients": "gradients",
    "optimizer": "optimizer state", "activations": "activations saved for backward",
    "saved": "activations saved for backward", "weight_copies": "low-precision weight copies",
    "temporaries": "temporaries", "outputs": "outputs",
}


def _memory(profile: Profile) -> list[tuple[str, int]]:
    m = profile.memory
    breakdown = dict(m.peak_at.breakdown) if m.peak_at.breakdown else {
        "weights": m.weights, "buffers": m.buffers, "inputs": m.inputs, "gradients": m.gradients,
        "optimizer": m.optimizer, "activations": m.activations, "weight_copies": m.weight_copies,
        "temporaries": m.temporaries}
    items = [(MEMORY_LABELS.get(k, k.replace("_", " ")), v) for k, v in breakdown.items()]
    return sorted(items, key=lambda item: (-item[1], item[0]))


def charts(profile: Profile, limit: int = 10) -> list[Chart]:
    """The charts of a profile: parameters and FLOPs by module and by type, memory at the peak, and
    (for training traces) activations saved for backward by module."""
    out = [
        Chart("params", "Parameters by module", profile.total_params, exact(profile.total_params),
              _bars(_by_module(profile, "own_params", limit, inclusive=False), profile.total_params, si)),
        Chart("params_type", "Parameters by layer type", profile.total_params, exact(profile.total_params),
              _bars(_top(_by_type(profile, "own_params"), limit, "other types"), profile.total_params, si)),
    ]
    if profile.compute is not None:
        flops = profile.compute.totals.total.flops
        out.append(Chart("flops", "FLOPs by module", flops, si(flops),
                         _bars(_by_module(profile, "flops", limit, inclusive=True), flops, si)))
        out.append(Chart("flops_type", "FLOPs by layer type", flops, si(flops),
                         _bars(_top(_by_type(profile, "flops"), limit, "other types"), flops, si)))
    m = profile.memory
    if m is not None:
        where = m.peak_at.phase + (f", {m.peak_at.module or profile.model}" if m.peak_at.module else "")
        out.append(Chart("memory", f"Memory at the peak ({where})", m.peak, nbytes(m.peak),
                         _bars(_memory(profile), m.peak, nbytes)))
        if m.activations:
            saved = profile.layers[0].saved_bytes
            out.append(Chart("saved", "Activations saved for backward by module", saved, nbytes(saved),
                             _bars(_by_module(profile, "saved_bytes", limit, inclusive=True), saved, nbytes)))
    return out
