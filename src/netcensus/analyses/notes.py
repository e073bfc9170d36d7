"""The notes a profile prints under its table: facts the reader should know about the census and the
trace (tied and aliased tensors, modules that never ran, checkpointing that matched nothing)."""

from __future__ import annotations

from ..events import Trace
from ..options import Checkpointing
from ..results.profile import LayerRow
from ..results.serving import MoEInfo
from .memory.checkpoint import blocks
from .params import ParamCensus


def profile_notes(params: ParamCensus, rows: list[LayerRow], trace: Trace,
                  checkpointing: Checkpointing | None, moe: MoEInfo | None = None) -> list[str]:
    notes = [f"tied: {' = '.join(group)} is one tensor, counted once" for group in params.tied]
    if moe is not None:
        notes.append(f"mixture of experts: {moe.active_params:,} of {moe.total_params:,} parameters active "
                     f"per token ({len(moe.blocks)} layers of routed experts, top-k of each; attention, "
                     "embeddings, norms, routers and shared experts always); the trace routes the batch's "
                     "tokens as the router decides on meta: 'netcensus serve' forces uniform routing")
    notes += [f"aliased: {', '.join(group)} are distinct parameters sharing one storage; counted once each, "
              "as model.parameters() does" for group in params.aliased]
    notes += [f"assumed: {a}" for a in trace.assumptions]
    if trace.recomputed_calls:
        notes.append(f"the model checkpoints itself: {trace.recomputed_calls} module call(s) recomputed in "
                     "backward are counted there (FLOPs and saved tensors as the real step has them)")
        if checkpointing is not None:
            notes.append("checkpointing= was also given: its recomputation comes on top of the model's own, "
                         "which a real run would not do; drop checkpointing= for a model that checkpoints "
                         "itself")
    notes += _checkpointing_notes(checkpointing, trace)
    never = [r.name for r in rows if r.not_called]
    if never:
        notes.append(f"not called in the trace: {', '.join(never[:8])}"
                     + (f" and {len(never) - 8} more" if len(never) > 8 else ""))
    return notes


def _checkpointing_notes(spec: Checkpointing | None, trace: Trace) -> list[str]:
    """What a checkpointing choice that names real modules still left out: modules that never ran in
    the traced forward, or ``"all"`` on a model without blocks (nothing to checkpoint then)."""
    if spec is None or not trace.train or trace.backward_start is None:
        return []
    calls = [c for c in trace.calls if c.path]
    if spec.all_blocks:
        if blocks(calls):
            return []
        return ["checkpointing 'all': the model has no blocks (numbered children such as layers.0 of a "
                "container with at least two of one class), so nothing is checkpointed; name the modules "
                "to checkpoint by path or class name instead"]
    ran = {c.path for c in calls} | {c.type for c in calls}
    idle = sorted(t for t in spec.targets if t not in ran)
    if not idle:
        return []
    return [f"checkpointing: {', '.join(repr(t) for t in idle)} never ran in the traced forward, so "
            f"nothing is checkpointed for {'it' if len(idle) == 1 else 'them'}"]
