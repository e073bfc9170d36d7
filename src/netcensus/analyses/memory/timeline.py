"""Storage lifetimes from a trace, and the live bytes at every point of it.

The model of memory
-------------------
Memory is counted by *storage* (views share their storage; a storage counts with its full size, the
largest ``storage_nbytes`` seen for it). A storage is alive over a half-open range of event indices
``[born, died)``:

* ``born``: -1 (alive before the first event) for parameters, buffers and the model's inputs; else the
  index of the first event that returns it; else (a tensor made outside the recorded ops, such as the
  gradient seed of the backward) the first event that reads it.
* ``died``: ``StorageFree.before`` (it is gone before that event runs; ``n``, the number of events,
  when it died after the last one); never freed: ``n + 1`` (alive after the end).

At event ``i`` the live bytes are those of every storage with ``born <= i < died``: an op's inputs and
outputs are alive together. Point ``start`` (before any event) holds the pre-existing storages.

Categories (each storage has exactly one):

* ``weights`` / ``buffers`` / ``inputs``: parameter, buffer and model-input storages;
* ``gradients``: returned by a backward op and never freed (the ``.grad`` of a parameter or input);
* ``weight_copies``: returned by a forward cast (``aten._to_copy``) of a parameter: autocast's
  low-precision copies of the weights;
* ``activations``: saved for backward by autograd (and not one of the above);
* ``outputs``: the tensors the model's forward returned (root call outputs), and storages returned by
  a forward op and never freed;
* ``temporaries``: everything else (alive only while ops need them).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from itertools import accumulate
from operator import add

from ...events import OpEvent, TensorMeta, Trace

CATEGORIES = ("weights", "buffers", "inputs", "gradients", "optimizer", "weight_copies", "activations",
              "outputs", "temporaries", "recompute", "gathered", "ddp_buckets", "rounding", "workspaces")
"""Every category a breakdown may hold (``optimizer``, ``recompute``, ``gathered``, ``ddp_buckets`` and,
for a CUDA target, ``rounding`` (the allocator's blocks on model states) and ``workspaces`` (cuBLAS,
cuDNN) are added by the analysis, not found in a trace)."""


@dataclass(slots=True)
class Life:
    """One storage (or a synthetic allocation) alive over events ``[born, died)``."""

    storage: int
    size: int
    born: int
    died: int
    category: str


def _metas(value: object) -> Iterable[TensorMeta]:
    if isinstance(value, TensorMeta):
        yield value
    elif isinstance(value, (tuple, list)):
        for v in value:
            yield from _metas(v)
    elif isinstance(value, dict):
        for v in value.values():
            yield from _metas(v)


def _flat_inputs(event: OpEvent) -> list[TensorMeta]:
    """``event.inputs`` (positional, then keyword tensors, in order) without building a tuple."""
    found: list[TensorMeta] = []
    _gather(event.args, found)
    if event.kwargs:
        _gather(tuple(event.kwargs.values()), found)
    return found


def _gather(value: tuple | list, found: list[TensorMeta]) -> None:
    for v in value:
        if isinstance(v, TensorMeta):
            found.append(v)
        elif isinstance(v, (tuple, list)):
            _gather(v, found)


def is_cast(event: OpEvent) -> bool:
    return event.op.startswith("aten._to_copy")


def lifetimes(trace: Trace) -> dict[int, Life]:
    """The life of every storage the trace saw (storage id 0, "no storage", is skipped)."""
    n = len(trace.events)
    size: dict[int, int] = {}
    born_out: dict[int, int] = {}
    born_in: dict[int, int] = {}

    def see(t: TensorMeta) -> None:
        if t.storage and size.get(t.storage, -1) < t.storage_nbytes:
            size[t.storage] = t.storage_nbytes

    for e in trace.events:
        index = e.index
        for t in _flat_inputs(e):
            sid = t.storage
            if sid and size.get(sid, -1) < t.storage_nbytes:
                size[sid] = t.storage_nbytes
            if sid not in born_in:
                born_in[sid] = index
        for t in e.outputs:
            sid = t.storage
            if sid and size.get(sid, -1) < t.storage_nbytes:
                size[sid] = t.storage_nbytes
            if sid not in born_out:
                born_out[sid] = index
    for s in trace.saved:
        see(s.tensor)
        born_in.setdefault(s.tensor.storage, max(0, s.before - 1))
    for r in trace.regions:
        for t in _metas((r.args, r.kwargs, r.outputs)):
            see(t)
    for c in trace.calls:
        for t in _metas((c.inputs, c.kwargs, c.outputs)):
            see(t)
    died = {f.storage: f.before for f in trace.frees}
    params = set(trace.param_storages.values())
    buffers = set(trace.buffer_storages.values())
    inputs = set(trace.input_storages)
    saved = {s.tensor.storage for s in trace.saved}
    bwd = trace.backward_start if trace.backward_start is not None else n
    # a storage an op returns that an earlier op (or the same one, in place) read already pre-existed
    produced = {sid for sid, i in born_out.items() if sid not in born_in or i < born_in[sid]}
    returned = {m.storage for c in trace.calls if c.depth == 0 for m in _metas(c.outputs)}
    copies: set[int] = set()
    for e in trace.events:
        if e.phase == "forward" and is_cast(e) and e.inputs and e.inputs[0].storage in params:
            copies.update(o.storage for o in e.outputs)
    lives: dict[int, Life] = {}
    for sid, nbytes in size.items():
        if sid == 0:
            continue
        if sid in params or sid in buffers or sid in inputs:
            born = -1
        elif sid in produced:
            born = born_out[sid]
        else:
            born = born_in.get(sid, 0)
        end = died.get(sid, n + 1)
        if end <= born:
            end = born + 1
        if sid in params:
            cat = "weights"
        elif sid in buffers:
            cat = "buffers"
        elif sid in inputs:
            cat = "inputs"
        elif sid in copies:
            cat = "weight_copies"
        elif sid in produced and born >= bwd and sid not in died:
            cat = "gradients"
        elif sid in saved:
            cat = "activations"
        elif sid in returned or (sid in produced and born < bwd and sid not in died):
            cat = "outputs"
        else:
            cat = "temporaries"
        lives[sid] = Life(sid, nbytes, born, end, cat)
    return lives


class Series:
    """Live bytes per category at every point: position 0 is ``start``, position ``i + 1`` event ``i``."""

    def __init__(self, n_events: int, lives: Iterable[Life], skip: Iterable[str] = ()):
        self.n = n_events
        skipped = set(skip)
        diff: dict[str, list[int]] = {}
        for life in lives:
            if life.category in skipped or life.size == 0:
                continue
            arr = diff.get(life.category)
            if arr is None:
                arr = diff[life.category] = [0] * (n_events + 2)
            lo = min(max(life.born + 1, 0), n_events + 1)
            hi = min(max(life.died + 1, lo), n_events + 1)
            arr[lo] += life.size
            arr[hi] -= life.size
        self.values: dict[str, list[int]] = {}
        for cat, arr in diff.items():
            self.values[cat] = list(accumulate(arr[:n_events + 1]))

    def add_constant(self, category: str, nbytes: int, first: int = 0, last: int | None = None) -> None:
        """Add ``nbytes`` of ``category`` at positions ``first`` .. ``last`` (inclusive; default: all)."""
        if nbytes == 0:
            return
        arr = self.values.setdefault(category, [0] * (self.n + 1))
        stop = self.n if last is None else last
        lo, hi = max(first, 0), min(stop, self.n) + 1
        if lo < hi:
            arr[lo:hi] = [v + nbytes for v in arr[lo:hi]]

    def replace(self, category: str, values: list[int]) -> None:
        self.values[category] = values

    def total(self) -> list[int]:
        out = [0] * (self.n + 1)
        for arr in self.values.values():
            if len(arr) == len(out):
                out = list(map(add, out, arr))
            else:  # a replaced series of another length: added where both have positions
                for i, v in enumerate(arr):
                    out[i] += v
        return out

    def at(self, position: int) -> dict[str, int]:
        return {cat: arr[position] for cat, arr in self.values.items() if arr[position]}


def alive_at_end(lives: Iterable[Life], n_events: int) -> dict[str, int]:
    """Bytes per category of the storages never freed (still alive when the trace ended)."""
    out: dict[str, int] = {}
    for life in lives:
        if life.died > n_events and life.size:
            out[life.category] = out.get(life.category, 0) + life.size
    return out


def alive_between(lives: Iterable[Life], index: int) -> dict[str, int]:
    """Bytes per category alive after event ``index - 1`` and still alive when event ``index`` runs."""
    out: dict[str, int] = {}
    for life in lives:
        if life.born < index < life.died:
            out[life.category] = out.get(life.category, 0) + life.size
    return out


SKIP = ("weights", "buffers")
"""Categories of lives the timeline leaves out (the model states are added as constants instead)."""


@dataclass(frozen=True)
class MemoryTimeline:
    """What one memory analysis computed over the trace, for callers that model it further (the
    scaling sweep): the storages' lives as analysed (allocator-rounded on CUDA), their sizes before
    rounding (None on CPU, where nothing is rounded), the categories left out of the lives' sum, the
    live bytes after each event (model states and workspaces included; index 0 is the start), and the
    optimizer step's peak (training)."""

    n_events: int
    lives: tuple[Life, ...]
    raw_sizes: tuple[int, ...] | None
    skip: frozenset[str]
    total: tuple[int, ...]
    step_peak: int | None


_OBSERVERS: ContextVar[tuple[Callable[[MemoryTimeline], None], ...]] = ContextVar(
    "netcensus_memory_timeline_observers", default=())


@contextmanager
def observe_timelines() -> Iterator[list[MemoryTimeline]]:
    """Within the block, every memory analysis (``netcensus.profile`` included) appends its
    :class:`MemoryTimeline` to the list this yields. Context-local: other threads are not observed."""
    seen: list[MemoryTimeline] = []
    token = _OBSERVERS.set((*_OBSERVERS.get(), seen.append))
    try:
        yield seen
    finally:
        _OBSERVERS.reset(token)


def observed() -> bool:
    """Whether some :func:`observe_timelines` block is open (else no timeline object is built)."""
    return bool(_OBSERVERS.get())


def notify(timeline: MemoryTimeline) -> None:
    for observer in _OBSERVERS.get():
        observer(timeline)
