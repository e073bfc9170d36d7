"""The layer tree of a profile as renderers show it: nesting, sorting, depth, repeated blocks collapsed.

``display_rows(profile, depth, sort, expand)`` flattens the module tree (parents before children,
siblings in execution order unless sorted) into :class:`DisplayRow` items. Unless ``expand``,
consecutive siblings whose last path component is consecutive integers (``layers.0``, ``layers.1``...)
and whose whole subtrees are identical (type, parameter counts, shapes, calls, MACs and FLOPs of every
module inside) become one *group* row, ``layers.0-79 x80``, whose figures are per block, followed by
the first block's descendants (paths written ``layers.0-79.mlp``, figures per block) and a *total* row
with the group's sums. Memory figures may differ between identical blocks (the first block saves a
tensor the others share); per block they are shown as a range ``min-max``, and the total row sums the
saved bytes and takes the highest live peak.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..results.profile import LayerRow, Profile

LAYER, GROUP, TOTAL = "layer", "group", "total"


@dataclass
class Node:
    row: LayerRow
    children: list[Node] = field(default_factory=list)
    parent: Node | None = None


@dataclass
class DisplayRow:
    """One row as shown: a module, a group of identical blocks, or a group's total."""

    kind: str
    row: LayerRow
    """The module (for a group, its first block)."""
    name: str
    """The path as shown (the root's class name; ``a.0-79`` inside a group)."""
    depth: int
    count: int = 1
    """Blocks this row stands for (1 for a plain module; the group size for a group, its rows, its total)."""
    members: list[LayerRow] = field(default_factory=list)
    """The rows this one stands for: ``[row]``, or the same module in every block of the group."""
    key: str = ""
    """A unique id: the path, or ``path#group`` / ``path#total``."""
    parent_key: str | None = None
    has_children: bool = False

    @property
    def total_factor(self) -> int:
        """Multiplier from the shown figures to what the row accounts for in the whole model."""
        return self.count if self.kind == TOTAL else 1

    def varying(self, attr: str) -> tuple[int, int]:
        """``(min, max)`` of an attribute over the rows this one stands for."""
        values = [getattr(m, attr) for m in self.members] or [getattr(self.row, attr)]
        return min(values), max(values)

    def figure(self, attr: str) -> int:
        """The row's value of a figure: per block for group rows, summed over blocks for a total row
        (the live peak: the highest)."""
        if self.kind != TOTAL:
            return int(getattr(self.row, attr))
        if attr == "peak_bytes":
            return max(m.peak_bytes for m in self.members)
        return sum(int(getattr(m, attr)) for m in self.members)


def build_tree(layers: list[LayerRow]) -> Node:
    """The module tree: each row's parent is the longest present prefix of its path; the root is ``""``."""
    nodes = {r.path: Node(r) for r in layers}
    root = nodes.get("")
    if root is None:
        raise ValueError("a profile needs a root layer (path '')")
    for r in layers:
        if r.path == "":
            continue
        parts = r.path.split(".")
        parent = root
        for k in range(len(parts) - 1, 0, -1):
            candidate = nodes.get(".".join(parts[:k]))
            if candidate is not None:
                parent = candidate
                break
        node = nodes[r.path]
        node.parent = parent
        parent.children.append(node)
    return root


def walk(node: Node) -> Iterator[Node]:
    yield node
    for c in node.children:
        yield from walk(c)


def _relative(path: str, base: str) -> str:
    return path[len(base) + 1:] if base else path


def signature(node: Node) -> tuple[Any, ...]:
    """What must be equal for two blocks to be shown as one: everything but memory, recursively."""
    r = node.row
    own = (r.type, r.params, r.own_params, r.trainable_params, r.buffers, r.calls, r.not_called,
           tuple(tuple(s) for s in r.input_shapes), tuple(tuple(s) for s in r.output_shapes),
           r.macs, r.flops, r.core_macs, r.forward_flops, r.backward_flops, r.unsupported_calls, r.formula)
    return own + (tuple((_relative(c.row.path, r.path), signature(c)) for c in node.children),)


def _index(path: str) -> tuple[str, int] | None:
    head, _, last = path.rpartition(".")
    return (head, int(last)) if last.isdigit() else None


def _groups(children: list[Node]) -> list[list[Node]]:
    """Runs of consecutive identical siblings numbered ``prefix.k, prefix.k+1, ...``."""
    runs: list[list[Node]] = []
    for child in children:
        if runs:
            last = runs[-1][-1]
            a, b = _index(last.row.path), _index(child.row.path)
            if a is not None and b is not None and a[0] == b[0] and b[1] == a[1] + 1 \
                    and signature(last) == signature(child):
                runs[-1].append(child)
                continue
        runs.append([child])
    return runs


SortKey = Callable[["DisplayRow"], Any]


def display_rows(profile: Profile, depth: int | None = None, sort: SortKey | None = None,
                 descending: bool = True, expand: bool = False) -> list[DisplayRow]:
    """The rows to show (see the module docstring). ``sort`` orders siblings (the tree is kept);
    a group sorts by its total."""
    root = build_tree(profile.layers)
    out: list[DisplayRow] = []
    model = profile.model

    def shown(d: int) -> bool:
        return depth is None or d <= depth

    def order(items: list[tuple[DisplayRow, Any]]) -> list[tuple[DisplayRow, Any]]:
        if sort is None:
            return items
        return sorted(items, key=lambda it: _sort_value(sort, it[0]), reverse=descending)

    def emit_node(dr: DisplayRow, blocks: list[Node], base_new: str, base_old: str) -> None:
        """Append ``dr`` and, recursively, its children (``blocks``: the same module in every block)."""
        out.append(dr)
        first = blocks[0]
        kids: list[tuple[DisplayRow, Any]] = []
        if expand or len(blocks) > 1:
            runs = [[c] for c in first.children]
        else:
            runs = _groups(first.children)
        for run in runs:
            child_depth = dr.depth + 1
            if len(run) == 1:
                same = [b.children[first.children.index(run[0])] for b in blocks]
                path = run[0].row.path
                name = base_new + path[len(base_old):] if base_old and path.startswith(base_old) else path
                kid = DisplayRow(LAYER, run[0].row, name or model, child_depth, count=len(blocks),
                                 members=[n.row for n in same], key=name if len(blocks) > 1 else path,
                                 parent_key=dr.key, has_children=bool(run[0].children))
                kids.append((kid, (same, base_new, base_old)))
            else:
                head, lo = _index(run[0].row.path)  # type: ignore[misc]
                hi = lo + len(run) - 1
                name = f"{head}.{lo}-{hi}"
                grp = DisplayRow(GROUP, run[0].row, f"{name} x{len(run)}", child_depth, count=len(run),
                                 members=[n.row for n in run], key=f"{name}#group", parent_key=dr.key,
                                 has_children=bool(run[0].children))
                kids.append((grp, (run, name, run[0].row.path)))
        for kid, (nodes, bnew, bold) in order(kids):
            if not shown(kid.depth):
                continue
            if kid.kind == GROUP:
                emit_node(kid, nodes, bnew, bold)
                total = DisplayRow(TOTAL, kid.row, f"= {kid.name.split(' x')[0]} total", kid.depth,
                                   count=kid.count, members=kid.members,
                                   key=kid.key.replace("#group", "#total"), parent_key=dr.key)
                out.append(total)
            else:
                emit_node(kid, nodes, bnew, bold)

    top = DisplayRow(LAYER, root.row, model, 0, members=[root.row], key="", has_children=bool(root.children))
    emit_node(top, [root], "", "")
    return out


def _sort_value(sort: SortKey, dr: DisplayRow) -> Any:
    value = sort(dr)
    if dr.kind == GROUP and isinstance(value, (int, float)):
        return value * dr.count
    return value
