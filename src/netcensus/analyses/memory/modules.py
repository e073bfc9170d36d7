"""Memory per module: what each module saves for backward and the live bytes over its calls.

:func:`module_memory` gives one :class:`~netcensus.results.memory.ModuleMemory` per called module:
the bytes its own ops save for backward (still held when backward starts) and its subtree's, the
largest live total over its forward calls and over its backward events (carried up to its
ancestors), and whether it runs under activation checkpointing.
"""

from __future__ import annotations

from collections.abc import Sequence

from ...events import Trace
from ...results.memory import ModuleMemory
from .timeline import Life


def module_memory(trace: Trace, lives: list[Life], total: list[int], checkpointed: Sequence[str]
                  ) -> tuple[ModuleMemory, ...]:
    """One row per module path of ``trace.calls``, in first-call order; ``total``: live bytes after
    each event (index 0: the start)."""
    types: dict[str, str] = {}
    calls: dict[str, int] = {}
    fwd: dict[str, int] = {}
    for c in trace.calls:
        types.setdefault(c.path, c.type)
        calls[c.path] = calls.get(c.path, 0) + 1
        window = total[c.start + 1:c.end + 1] or [total[min(c.start, len(total) - 1)]]
        fwd[c.path] = max(fwd.get(c.path, 0), max(window))
    if not types:
        return ()
    bs = trace.backward_start
    own = _saved_at_backward(trace, lives)
    subtotal: dict[str, int] = {}
    for path, b in own.items():
        for a in _ancestors(path):
            subtotal[a] = subtotal.get(a, 0) + b
    bwd = _backward_peaks(trace, total, bs) if bs is not None else {}
    marked = set(checkpointed)
    return tuple(
        ModuleMemory(path, types[path], calls[path], own.get(path, 0), subtotal.get(path, 0),
                     fwd.get(path, 0), bwd.get(path) if bs is not None else None, path in marked)
        for path in types
    )


def _saved_at_backward(trace: Trace, lives: list[Life]) -> dict[str, int]:
    """Bytes each module saved for backward that are still held when backward starts (each storage
    counted once, for the first module that saved it)."""
    size = {life.storage: life.size for life in lives}
    bs = trace.backward_start
    held_at_bwd = {life.storage for life in lives
                   if life.category == "activations" and bs is not None and life.born < bs < life.died}
    own: dict[str, int] = {}
    seen: set[int] = set()
    for s in trace.saved:
        sid = s.tensor.storage
        if sid in seen or sid not in held_at_bwd:
            continue
        seen.add(sid)
        own[s.module] = own.get(s.module, 0) + size.get(sid, 0)
    # what the analysis adds for a device (cuDNN's RNN reserve space: negative ids) belongs to the
    # innermost module whose call it was made in
    for life in lives:
        if life.storage < 0 and life.storage in held_at_bwd:
            inner = [c for c in trace.calls if c.start <= life.born < c.end]
            if inner:
                path = max(inner, key=lambda c: (c.depth, c.start)).path
                own[path] = own.get(path, 0) + life.size
    return own


def _backward_peaks(trace: Trace, total: list[int], bs: int) -> dict[str, int]:
    """The largest total at each module's own backward events, then carried up to its ancestors."""
    highest: dict[str, int] = {}
    for e in trace.events[bs:]:
        v = total[e.index + 1]
        if v > highest.get(e.module, -1):
            highest[e.module] = v
    bwd: dict[str, int] = {}
    for module, v in highest.items():
        for a in _ancestors(module):
            if v > bwd.get(a, -1):
                bwd[a] = v
    return bwd


def _ancestors(path: str) -> list[str]:
    """``a.b.c`` -> ``["a.b.c", "a.b", "a", ""]``."""
    out = [path]
    while path:
        path = path.rpartition(".")[0]
        out.append(path)
    return out
