"""The trace: the one contract between the tracer and every analysis.

Everything here is plain, frozen data: no live tensors, no torch objects. Dtypes are strings
(``"float32"``), shapes are tuples of ints, devices are strings. Analyses are pure functions of a
:class:`Trace` and the module tree, so they can be tested from hand-written events.

Conventions
-----------
* A *module path* is the state_dict-style dotted path of a submodule; the root module is ``""``.
* Every tensor an op touches is described by a :class:`TensorMeta`. ``storage`` is a small integer
  that identifies the tensor's storage for the duration of the trace (views share it); it is never
  reused within one trace, even when the allocator reuses an address.
* ``OpEvent.args`` / ``OpEvent.kwargs`` are the op's arguments with every tensor replaced by its
  ``TensorMeta``; lists and tuples keep their nesting; scalars, strings and ``None`` are kept as they
  are; dtypes, devices, layouts and memory formats become strings.
* ``phase`` is ``"forward"`` for ops run while the model's forward is executing and ``"backward"``
  for ops the autograd engine runs (attributed to the module whose forward op created the autograd
  node being executed).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from .dtypes import numel

Phase = Literal["forward", "backward"]

FORWARD: Phase = "forward"
BACKWARD: Phase = "backward"


@dataclass(frozen=True, slots=True)
class TensorMeta:
    """What an analysis may know about one tensor."""

    shape: tuple[int, ...]
    dtype: str
    storage: int
    """Trace-local id of the tensor's storage; views of one tensor share it."""
    nbytes: int
    """Bytes of the tensor's own elements: numel * itemsize."""
    storage_nbytes: int
    """Bytes of the whole storage the tensor views."""
    requires_grad: bool = False

    @property
    def numel(self) -> int:
        return numel(self.shape)


@dataclass(frozen=True, slots=True)
class OpEvent:
    """One aten op call, as seen below autograd."""

    index: int
    op: str
    """Overload name as torch prints it, e.g. ``"aten.convolution.default"``."""
    module: str
    """Path of the innermost traced module that was running (forward) or whose op created the autograd
    node being run (backward)."""
    phase: Phase
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    outputs: tuple[TensorMeta, ...]
    """The tensors the op returned, flattened in order."""
    tags: tuple[str, ...] = ()
    """The op's torch tags, e.g. ``("pointwise", "core")``."""
    region: int | None = None
    """Index into ``Trace.regions`` of the innermost watched function call this op belongs to
    (forward: ran inside it; backward: runs a node that call created), else None."""

    @property
    def inputs(self) -> tuple[TensorMeta, ...]:
        """Every tensor argument, flattened in order (positional, then keyword)."""
        found: list[TensorMeta] = []
        _collect(self.args, found)
        _collect(tuple(self.kwargs.values()), found)
        return tuple(found)


def _collect(value: Any, found: list[TensorMeta]) -> None:
    if isinstance(value, TensorMeta):
        found.append(value)
    elif isinstance(value, (tuple, list)):
        for v in value:
            _collect(v, found)


@dataclass(frozen=True, slots=True)
class ModuleCall:
    """One call of one module's forward."""

    path: str
    type: str
    """The module's class name."""
    call: int
    """0 for the module's first call, 1 for the second, ..."""
    depth: int
    """Nesting depth of the call in the call stack: the root is 0."""
    start: int
    """Index of the first forward event inside this call."""
    end: int
    """One past the index of the last forward event inside this call."""
    inputs: Any
    """Positional inputs as a structure of TensorMeta (tuples, lists, dicts kept; other values as
    their ``repr``)."""
    kwargs: Any
    outputs: Any
    """Output structure, likewise; dataclass-like outputs become dicts."""
    failed: bool = False
    """True when the forward raised inside this call."""


@dataclass(frozen=True, slots=True)
class Region:
    """One call of a watched torch function (e.g. ``scaled_dot_product_attention``).

    Some functions decompose into several aten ops on meta tensors and lose arguments that matter
    for counting (``is_causal``); a region keeps the call's own arguments so an analysis can count
    the call as a whole. Events inside it carry its index in ``OpEvent.region``.
    """

    index: int
    name: str
    module: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    start: int
    end: int
    outputs: tuple[TensorMeta, ...] = ()


@dataclass(frozen=True, slots=True)
class StorageFree:
    """A storage that died during the trace."""

    storage: int
    before: int
    """The number of events recorded when it died: it is gone before event ``before`` runs."""


@dataclass(frozen=True, slots=True)
class SavedTensor:
    """A tensor autograd saved for backward (recorded when tracing for training)."""

    tensor: TensorMeta
    module: str
    before: int
    """Number of events recorded when it was saved."""


@dataclass(frozen=True, slots=True)
class Trace:
    """Everything one traced forward (and, for training, backward) produced."""

    events: tuple[OpEvent, ...]
    calls: tuple[ModuleCall, ...]
    frees: tuple[StorageFree, ...] = ()
    saved: tuple[SavedTensor, ...] = ()
    regions: tuple[Region, ...] = ()
    param_storages: dict[str, int] = field(default_factory=dict)
    """Parameter name (state_dict style, first name of a shared one) -> storage id."""
    buffer_storages: dict[str, int] = field(default_factory=dict)
    input_storages: tuple[int, ...] = ()
    device: str = "meta"
    train: bool = False
    backward_start: int | None = None
    """Index of the first backward event, or None when no backward was traced."""
    assumptions: tuple[str, ...] = ()
    """What the trace assumed where the forward read tensor values that meta tensors do not have
    (see trace/values.py), one sentence each; empty when every value read was known exactly."""
    recomputed_calls: int = 0
    """Module calls run during backward: the model checkpoints itself (torch.utils.checkpoint,
    transformers' gradient checkpointing) and these are its recomputations, recorded as backward ops of
    those modules (they are not in ``calls``)."""


def tensor_metas(structure: Any) -> list[TensorMeta]:
    """The TensorMetas in a recorded structure (tuples, lists, dicts), in order."""
    found: list[TensorMeta] = []

    def walk(v: Any) -> None:
        if isinstance(v, TensorMeta):
            found.append(v)
        elif isinstance(v, (tuple, list)):
            for x in v:
                walk(x)
        elif isinstance(v, dict):
            for x in v.values():
                walk(x)

    walk(structure)
    return found
