"""Small helpers shared by the tracer's parts: walking nested values for tensors, and the guard that keeps
torch-function modes off the tracer's own bookkeeping."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from typing import Any

import torch

#: Entered around the tracer's own bookkeeping and around the kernel an op runs: torch-function modes
#: (the tracer's ``Watcher``, ``torch.device("meta")``, the ``contexts``) act on the model's calls,
#: not on the tensor attribute reads of the recorder or the torch calls inside PyTorch's Python meta
#: kernels. Without it every such read and call goes through each mode in Python: a plain meta forward
#: (no mode) runs those kernels as they run here.
NO_TORCH_FUNCTION = torch._C.DisableTorchFunction


#: The notes of the trace being recorded (set while its recorder is entered): what a trace context
#: did in place of the model's own code, for the report (``Trace.assumptions``).
TRACE_NOTES: ContextVar[dict[str, None] | None] = ContextVar("netcensus_trace_notes", default=None)


#: True while a trace context runs a forward kernel again during backward (a checkpointed block's
#: recomputation, seen from inside an autograd function's forward, where grad mode is off): the
#: recorder then gives those ops no region (see ``Tracer.record``).
RECOMPUTING: ContextVar[bool] = ContextVar("netcensus_recomputing", default=False)


def note(text: str) -> None:
    """Add ``text`` to the notes of the trace being recorded (nothing outside a trace)."""
    notes = TRACE_NOTES.get()
    if notes is not None:
        notes[text] = None


def tensors_in(value: Any) -> Iterator[torch.Tensor]:
    """The tensors in ``value``: nested tuples, lists, mappings and dataclasses are walked."""
    if isinstance(value, torch.Tensor):
        yield value
    elif isinstance(value, (tuple, list)):
        for v in value:
            yield from tensors_in(v)
    elif isinstance(value, Mapping):
        for v in value.values():
            yield from tensors_in(v)
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        for f in dataclasses.fields(value):
            yield from tensors_in(getattr(value, f.name))
