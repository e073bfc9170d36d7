"""Activation checkpointing, estimated from a trace made without it.

The model (non-reentrant ``torch.utils.checkpoint``) for one checkpointed module call ``c``:

* forward: the tensors ops inside ``c`` save for backward are not kept. A storage born inside ``c``,
  saved for backward, not among ``c``'s outputs and alive after ``c`` in the trace, dies when ``c``
  returns instead; except autocast's low-precision weight copies, which autocast's cache holds until
  the forward ends whatever checkpointing does. ``c``'s inputs are kept until ``c``'s backward (the
  checkpoint saves them).
* backward: when autograd first needs one of those tensors, ``c``'s forward is recomputed: the
  dropped storages are alive again from that event (``recompute_at``) until they died in the trace,
  and the recomputation's own transient peak is added at that event: ``max(0, rise - dropped)``
  where ``rise`` is how far live bytes rose above their level at ``c``'s start during ``c``'s forward.
* compute: the forward of every checkpointed call runs twice; the extra FLOPs are the forward FLOPs
  of the checkpointed modules (given by the caller, e.g. from the compute analysis).

Only the outermost selected calls count (a checkpointed module inside another is already covered).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from difflib import get_close_matches
from typing import NamedTuple

from ...errors import MemoryConfigError
from ...events import ModuleCall, Trace
from ...options import Checkpointing
from .timeline import Life, _metas


class _Module(NamedTuple):
    path: str
    type: str


def blocks(calls: Iterable[ModuleCall | _Module]) -> set[str]:
    """Paths of the *blocks*: outermost numbered children (``h.0``, ``layers.3``) of a container whose
    numbered children include at least two of the same class."""
    by_parent: dict[tuple[str, str], list[str]] = {}
    seen: set[str] = set()
    for c in calls:
        if c.path in seen or not c.path:
            continue
        seen.add(c.path)
        parent, _, last = c.path.rpartition(".")
        if last.isdigit():
            by_parent.setdefault((parent, c.type), []).append(c.path)
    found = {p for paths in by_parent.values() if len(paths) >= 2 for p in paths}
    return {p for p in found if not any(p.startswith(q + ".") for q in found)}


def check_targets(spec: Checkpointing | None, modules: Iterable[tuple[str, str]], *, model: str | None = None,
                  aliases: Mapping[str, str] | None = None) -> None:
    """Raise :class:`MemoryConfigError` when a target of ``spec`` names no module of the model.

    ``modules``: ``(path, class name)`` of every module, the root with path ``""``, as
    ``model.named_modules()`` lists them (the paths the trace records); ``aliases``: the other names of
    modules registered under several names -> the name the trace records. A target matches a module
    whose path or class name it equals. The root cannot be checkpointed (the selection is of its
    submodules' calls), so its class name alone matches nothing. ``"all"`` matches whatever blocks
    there are. The message names every unmatched target, close matches, and the names that are valid.
    """
    if spec is None or spec.all_blocks:
        return
    listed = [_Module(p, t) for p, t in modules]
    subs = [m for m in listed if m.path]
    paths = {m.path for m in subs}
    types = {m.type for m in subs}
    unmatched = sorted(t for t in spec.targets if t not in paths and t not in types)
    if not unmatched:
        return
    root = next((m.type for m in listed if not m.path), None)
    aliases = aliases or {}
    names = sorted(paths | types)
    hints = []
    for target in unmatched:
        if target in aliases:
            hints.append(f"{target!r} is another name of {aliases[target]!r}, the name it is traced under: "
                         f"use {aliases[target]!r}.")
            continue
        if target == root:
            hints.append(f"{target!r} is the model itself, which cannot be checkpointed: "
                         "name its submodules.")
            continue
        close = get_close_matches(target, names, n=3, cutoff=0.6)
        last = target.rpartition(".")[2]  # torch.nn.Linear -> Linear
        if last != target and last in types and last not in close:
            close.insert(0, last)
        if close:
            hints.append(f"for {target!r}, did you mean {' or '.join(repr(c) for c in close)}?")
    block_paths = blocks(subs)
    found = [m for m in subs if m.path in block_paths]
    runs = [m for m in subs if m.type not in _CONTAINERS]  # containers have no forward to checkpoint
    example_paths = [m.path for m in found] or [m.path for m in runs if "." not in m.path]
    example_types = list(dict.fromkeys([m.type for m in found] + [m.type for m in runs]))
    valid = []
    if example_paths:
        valid.append("by path (" + _some(example_paths, 3) + ")")
    if example_types:
        valid.append("by class name (" + _some(example_types, 5) + ")")
    if not runs:
        how = "this model has no submodules to checkpoint: drop the checkpointing choice"
    else:
        how = "name modules " + " or ".join(valid) + ", or pass 'all' for every block"
        if not found:
            how += (" (this model has none: a block is a numbered child, such as layers.0, of a container "
                    "with at least two of one class)")
    which = "target" if len(unmatched) == 1 else "targets"
    raise MemoryConfigError(
        f"checkpointing {which} {', '.join(repr(t) for t in unmatched)} "
        f"match{'es' if len(unmatched) == 1 else ''} no module path or class name of the model",
        where=model, fix=" ".join(hints + [how[0].upper() + how[1:] if hints else how]))


_CONTAINERS = frozenset({"ModuleList", "ModuleDict", "ParameterList", "ParameterDict"})


def _some(items: list[str], n: int) -> str:
    return ", ".join(repr(i) for i in items[:n]) + (", ..." if len(items) > n else "")


def selected_calls(trace: Trace, spec: Checkpointing) -> list[ModuleCall]:
    """The outermost forward calls ``spec`` selects, in order."""
    if spec.all_blocks:
        paths = blocks(trace.calls)
        chosen = [c for c in trace.calls if c.path in paths]
    else:
        chosen = [c for c in trace.calls if c.path and (c.path in spec.targets or c.type in spec.targets)]
    chosen.sort(key=lambda c: (c.start, -c.end))
    out: list[ModuleCall] = []
    for c in chosen:
        if c.end <= c.start or c.failed:
            continue
        if out and c.start >= out[-1].start and c.end <= out[-1].end:
            continue  # nested in a call already chosen
        out.append(c)
    return out


@dataclass(frozen=True)
class CheckpointEffect:
    calls: int
    """Checkpointed module calls."""
    paths: tuple[str, ...]
    dropped: int
    """Bytes of saved storages no longer kept through the forward (summed over calls)."""
    kept_inputs: int
    """Bytes of call inputs the checkpoints keep that the trace did not keep already."""
    recompute_flops: int | None
    """Extra forward FLOPs, when the caller gave forward FLOPs per module path."""
    missing_flops: tuple[str, ...] = ()


def apply(trace: Trace, lives: dict[int, Life], spec: Checkpointing, total: list[int],
          module_flops: Mapping[str, int] | None = None) -> tuple[list[Life], CheckpointEffect]:
    """Lives as they would be under ``spec``; ``total`` is the trace's live-bytes series (Series
    positions: 0 is start, ``i + 1`` event ``i``) used for each call's forward rise."""
    calls = selected_calls(trace, spec)
    saved = {s.tensor.storage for s in trace.saved}
    by_id = dict(lives)
    extra: list[Life] = []
    first_use: dict[int, int] = {}
    forward_end = trace.backward_start if trace.backward_start is not None else len(trace.events)
    if trace.backward_start is not None:
        for e in trace.events[trace.backward_start:]:
            for t in e.inputs:
                first_use.setdefault(t.storage, e.index)
    candidates = sorted((life.born, sid) for sid, life in lives.items()
                        if sid in saved and life.category in ("activations", "weight_copies", "temporaries"))
    borns = [b for b, _ in candidates]
    dropped_total = kept_total = 0
    synth = -1
    for c in calls:
        outs = {t.storage for t in _metas(c.outputs)}
        ins = {t.storage for t in _metas((c.inputs, c.kwargs))}
        inside = candidates[bisect_left(borns, c.start):bisect_left(borns, c.end)]
        dropped = [by_id[sid] for _, sid in inside if sid not in outs and by_id[sid].died > c.end]
        if not dropped:
            continue
        uses = [first_use[d.storage] for d in dropped if d.storage in first_use]
        at = min(uses) if uses else min(d.died for d in dropped)
        before = total[c.start] if c.start < len(total) else 0  # position c.start = after event c.start-1
        rise = max(total[c.start + 1:c.end + 1], default=before) - before
        size = 0
        for d in dropped:
            size += d.size
            if at < d.died:
                extra.append(Life(d.storage, d.size, at, d.died, d.category))
            held_until = min(d.died, forward_end) if d.category == "weight_copies" else c.end
            by_id[d.storage] = Life(d.storage, d.size, d.born, held_until, d.category)
        dropped_total += size
        spike = max(0, rise - size)
        if spike:
            extra.append(Life(synth, spike, at, at + 1, "recompute"))
            synth -= 1
        for sid in ins:
            life = by_id.get(sid)
            if life is None or life.category in ("weights", "buffers", "inputs") or life.died > at:
                continue
            kept_total += life.size
            by_id[sid] = Life(sid, life.size, life.born, at + 1, "activations")
    paths = tuple(dict.fromkeys(c.path for c in calls))
    flops: int | None = None
    missing: tuple[str, ...] = ()
    if module_flops is not None:
        missing = tuple(p for p in paths if p not in module_flops)
        flops = sum(int(module_flops[p]) for p in paths if p in module_flops)
    effect = CheckpointEffect(len(calls), paths, dropped_total, kept_total, flops, missing)
    return list(by_id.values()) + extra, effect
