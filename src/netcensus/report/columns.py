"""The columns a layer table can show, shared by the terminal, Markdown, CSV and HTML renderers.

Each column has a key (what ``--columns`` and ``--sort`` take), a header, a priority (when the terminal
is too narrow, the lowest priorities are abbreviated or dropped first), the text of a cell (formatted by
:mod:`.units`) and a raw value (exact integers, for CSV, HTML sorting and ``--sort``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import SpecError
from ..units import exact, nbytes, nbytes_range, si
from .tree import GROUP, TOTAL, DisplayRow

MAX_SHAPE_WIDTH = 36
"""Shapes longer than this are clipped with ``...`` in the terminal and Markdown tables."""

PEAK_HELP = ("everything live on the device while the module runs (weights, gradients, optimizer state, "
             "earlier layers' activations), not the module's own memory (that is 'Saved for bwd')")


@dataclass(frozen=True)
class Column:
    key: str
    header: str
    priority: int
    """Higher is kept longer when the terminal is narrow."""
    right: bool
    text: Callable[[DisplayRow], str]
    value: Callable[[DisplayRow], Any]
    min_width: int = 0
    """Above 0: the column may be abbreviated (clipped with ``...``) down to this width before it is
    dropped."""
    numeric: bool = False
    help: str = ""


def _name(d: DisplayRow) -> str:
    text = d.name
    r = d.row
    if d.kind != TOTAL:
        if r.calls > 1:
            text += f" ({r.calls} calls)"
        if r.not_called:
            text += " (not called)"
    return "  " * d.depth + text


def _fig(attr: str, fmt: Callable[[int], str], star: bool = False) -> Callable[[DisplayRow], str]:
    def cell(d: DisplayRow) -> str:
        n = d.figure(attr)
        return fmt(n) + ("*" if star and d.row.unsupported_calls else "")
    return cell


def _raw(attr: str) -> Callable[[DisplayRow], Any]:
    return lambda d: d.figure(attr)


def _not_total(f: Callable[[DisplayRow], Any], empty: Any = "") -> Callable[[DisplayRow], Any]:
    return lambda d: empty if d.kind == TOTAL else f(d)


def _memory(attr: str) -> Callable[[DisplayRow], str]:
    def cell(d: DisplayRow) -> str:
        if attr == "peak_bytes" and not d.row.calls:
            return ""
        if d.kind == TOTAL:
            return nbytes(d.figure(attr))
        lo, hi = d.varying(attr)
        if attr == "saved_bytes" and hi == 0:
            return "0"
        return nbytes_range(lo, hi)
    return cell


def _shapes(shapes: list[tuple[int, ...]]) -> str:
    return "; ".join("x".join(str(x) for x in s) for s in shapes)


COLUMNS: dict[str, Column] = {c.key: c for c in (
    Column("name", "Layer", 1000, False, _name, lambda d: d.name, help="module path (tree-indented)"),
    Column("type", "Type", 60, False, _not_total(lambda d: "" if d.key == "" else d.row.type),
           _not_total(lambda d: d.row.type), min_width=10, help="module class (the root's is its name)"),
    Column("input", "Input shape", 40, False, _not_total(lambda d: d.row.input_text),
           _not_total(lambda d: _shapes(d.row.input_shapes)), min_width=24,
           help="shapes of the first call's input tensors; (+N args): arguments that are not tensors"),
    Column("output", "Output shape", 70, False, _not_total(lambda d: d.row.output_text),
           _not_total(lambda d: _shapes(d.row.output_shapes)), min_width=24,
           help="shapes of the first call's output tensors"),
    Column("params", "Params", 90, True, _fig("params", exact), _raw("params"), numeric=True,
           help="parameters of the module and its children"),
    Column("own", "Own", 50, True, _not_total(_fig("own_params", exact)), _raw("own_params"), numeric=True,
           help="parameters registered on the module itself (sum to the total)"),
    Column("train", "Train", 75, False, _not_total(lambda d: d.row.trainable),
           _not_total(lambda d: d.row.trainable), help="yes / no / partial: are the parameters trainable"),
    Column("calls", "Calls", 12, True, _not_total(lambda d: exact(d.row.calls)),
           _not_total(lambda d: d.row.calls, 0), numeric=True, help="times the forward ran"),
    Column("macs", "MACs", 45, True, _fig("macs", si), _raw("macs"), numeric=True,
           help="multiply-accumulates (every traced phase)"),
    Column("core_macs", "Core MACs", 20, True, _fig("core_macs", si), _raw("core_macs"), numeric=True,
           help="conv, linear, matmul and attention-product MACs only"),
    Column("flops", "FLOPs", 80, True, _fig("flops", si, star=True), _raw("flops"), numeric=True,
           help="floating-point operations (1 MAC = 2 FLOPs); * = some ops unsupported"),
    Column("fwd_flops", "Fwd FLOPs", 18, True, _fig("forward_flops", si), _raw("forward_flops"),
           numeric=True, help="forward FLOPs"),
    Column("bwd_flops", "Bwd FLOPs", 17, True, _fig("backward_flops", si), _raw("backward_flops"),
           numeric=True, help="backward FLOPs (training traces)"),
    Column("saved", "Saved for bwd", 77, True, _memory("saved_bytes"), _raw("saved_bytes"), numeric=True,
           help="bytes of activations saved for backward"),
    Column("peak", "All-live peak", 78, True, _memory("peak_bytes"), _raw("peak_bytes"), numeric=True,
           help=PEAK_HELP),
    Column("buffers", "Buffers", 14, True, _fig("buffers", exact), _raw("buffers"), numeric=True,
           help="buffer elements registered on the module"),
    Column("formula", "Formula (own params)", 30, False, _not_total(lambda d: d.row.formula),
           _not_total(lambda d: d.row.formula), min_width=16, help="own-parameter formula, numbers bound"),
    Column("describe", "Layer config", 25, False, _not_total(lambda d: d.row.describe),
           _not_total(lambda d: d.row.describe), min_width=16, help="the layer's configuration"),
)}

DEFAULT = ("name", "type", "output", "params", "macs", "flops", "formula")
"""The compute columns every table starts from (``Train`` joins them when some parameters are frozen);
the others (input shape, own parameters, calls, core MACs, ...) come with ``--columns``."""
MEMORY = ("saved", "peak")
"""Added before the formula for training traces or with ``--memory``."""

SORT_KEYS = tuple(k for k, c in COLUMNS.items() if c.numeric) + ("name", "type")


class ColumnError(SpecError):
    """A column or sort key the table does not have."""


def default_columns(memory: bool, frozen: bool = False) -> list[str]:
    """The default keys: compute columns, the memory ones with ``memory``, ``train`` with ``frozen``."""
    cols = list(DEFAULT)
    if frozen:
        cols.insert(cols.index("params") + 1, "train")
    if memory:
        cols[-1:-1] = list(MEMORY)
    return cols


def choose_columns(spec: str | None, memory: bool, frozen: bool = False) -> list[str]:
    """The column keys for ``--columns``: ``a,b,c`` replaces the defaults (``name`` always comes first);
    ``+a,-b`` adds to or removes from them."""
    cols = default_columns(memory, frozen)
    if not spec:
        return cols
    items = [s.strip() for s in spec.split(",") if s.strip()]
    for item in items:
        key = item.lstrip("+-")
        if key not in COLUMNS:
            raise ColumnError(f"unknown column {key!r}; the columns are: {', '.join(COLUMNS)}")
    if all(i[0] in "+-" for i in items):
        for item in items:
            key = item[1:]
            if item[0] == "+" and key not in cols:
                cols.append(key)
            elif item[0] == "-" and key in cols and key != "name":
                cols.remove(key)
        return cols
    chosen = [i.lstrip("+") for i in items if not i.startswith("-")]
    return ["name"] + [k for k in dict.fromkeys(chosen) if k != "name"]


def table_keys(profile: Any, columns: str | Sequence[str] | None, memory_columns: bool | None) -> list[str]:
    """The keys a layer table shows: ``columns`` (a ``--columns`` spec or a list of keys), else the
    defaults; the memory columns with ``memory_columns`` (default: for training traces) when the profile
    has memory figures."""
    if columns is not None and not isinstance(columns, str):
        return list(columns)
    memory = bool(profile.train if memory_columns is None else memory_columns) and profile.memory is not None
    return choose_columns(columns, memory, frozen=profile.frozen_params > 0)


def parse_sort(spec: str | None) -> tuple[Callable[[DisplayRow], Any] | None, bool]:
    """``--sort KEY[:asc|:desc]``: a key on numeric columns (largest first by default) or name/type."""
    if not spec:
        return None, True
    key, _, direction = spec.partition(":")
    key = key.strip()
    if key not in SORT_KEYS:
        raise ColumnError(f"cannot sort by {key!r}; sort keys are: {', '.join(SORT_KEYS)}")
    if direction not in ("", "asc", "desc"):
        raise ColumnError(f"sort direction must be asc or desc, got {direction!r}")
    col = COLUMNS[key]
    descending = direction == "desc" or (direction == "" and col.numeric)
    if col.numeric:
        return (lambda d: d.figure(_ATTR[key])), descending
    return (lambda d: str(col.value(d)).lower()), descending


_ATTR = {"params": "params", "own": "own_params", "calls": "calls", "macs": "macs", "core_macs": "core_macs",
         "flops": "flops", "fwd_flops": "forward_flops", "bwd_flops": "backward_flops",
         "saved": "saved_bytes", "peak": "peak_bytes", "buffers": "buffers"}

__all__ = ["COLUMNS", "DEFAULT", "GROUP", "MEMORY", "SORT_KEYS", "Column", "ColumnError", "choose_columns",
           "default_columns", "parse_sort", "table_keys"]
