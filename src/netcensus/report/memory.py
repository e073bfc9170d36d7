"""The memory block under the table: every figure with the assumptions it rests on.

The short form (the default) lists the assumptions as ``name = value`` pairs, leaving out those that
changed no number (a sharding or attention path that is ``none``); ``verbose`` says what each means.
Without the memory columns (an inference run without ``--memory``) the short form is the peak alone.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..units import exact, nbytes

if TYPE_CHECKING:
    from ..results.memory import MemoryResult
    from ..results.profile import Profile

LABEL = 34

INERT = ("none", "none seen")
"""Assumption values that change no number: left out of the short list."""


def _line(label: str, n: int, note: str = "") -> str:
    return f"  {label:<{LABEL}}{exact(n):>20} B  {nbytes(n):>12}" + (f"  {note}" if note else "")


def peak_where(m: MemoryResult, model: str) -> str:
    """Where the peak is: phase, module (the model's name for the root) and op."""
    at = m.peak_at
    where = at.phase
    if at.phase in ("forward", "backward"):
        where += f", {at.module or model}"
    if at.op and at.op.replace(".", " ").replace("()", "") != at.phase:  # not 'optimizer step, ...step()'
        where += f", {at.op}"
    return where


def peak_workspaces(m: MemoryResult) -> int:
    """Library workspaces live at the peak: the kept cuBLAS ones and any transient one there (cuDNN,
    reductions' staging)."""
    return m.peak_at.breakdown.get("workspaces", m.workspaces)


def composition(m: MemoryResult) -> str:
    """``    made of: weights 178.39 MiB + workspaces 38.07 MiB + ...``: what is live at the peak, by
    category, largest first; the parts add up to the peak exactly."""
    parts = sorted(((k, v) for k, v in m.peak_at.breakdown.items() if v), key=lambda kv: -kv[1])
    return "    made of: " + " + ".join(f"{k} {nbytes(v)}" for k, v in parts)


def heading(m: MemoryResult) -> str:
    per = f", per device of {m.devices}" if m.devices > 1 else ""
    return f"Memory ({m.mode} step{per}"


KEY = ("step", "precision", "optimizer", "sharding", "checkpointing", "target")
"""The assumptions named beside the peak alone (without the memory breakdown)."""


def short_assumptions(m: MemoryResult, every: bool = True) -> str:
    """``Assumptions: step = training; precision = fp32; ...`` without the inert ones; unless
    ``every``, only the :data:`KEY` ones and a count of the others."""
    shown = [a for a in m.assumptions if a.value not in INERT and (every or a.name in KEY)]
    rest = sum(1 for a in m.assumptions if a.value not in INERT) - len(shown)
    more = f"; {rest} more with --memory" if rest else ""
    return ("Assumptions: " + "; ".join(f"{a.name} = {a.value}" for a in shown) + more
            + " (--verbose: what each means)")


def figure_lines(m: MemoryResult, model: str) -> list[str]:
    """The memory breakdown, one aligned line per figure."""
    lines = [f"{heading(m)}; bytes exact, IEC units):", _line("weights", m.weights)]
    if m.buffers:
        lines.append(_line("buffers", m.buffers))
    lines.append(_line("inputs", m.inputs))
    if m.mode == "training":
        lines.append(_line("gradients", m.gradients))
        lines.append(_line("optimizer state", m.optimizer))
        lines.append(_line("activations saved for backward", m.activations))
        if m.weight_copies:
            lines.append(_line("low-precision weight copies", m.weight_copies))
    lines.append(_line("temporaries at the peak", m.temporaries))
    workspaces = peak_workspaces(m)
    if workspaces:
        lines.append(_line("library workspaces (in the peak)", workspaces))
    if m.rounding:
        lines.append(_line("allocator rounding (in the peak)", m.rounding))
    lines.append(_line("peak" + (" (steady state)" if m.first_step_peak is not None else ""), m.peak,
                       f"at {peak_where(m, model)}"))
    if m.peak_at.breakdown:
        lines.append(composition(m))
    if m.first_step_peak is not None and m.mode == "training":
        lines.append(_line("first step's peak", m.first_step_peak, "(one-time workspaces, state created)"))
    if m.reserved is not None:
        lines.append(_line("reserved by the allocator (est.)", m.reserved,
                           "compare with nvidia-smi, plus the CUDA context (~0.5 GiB)"))
    if m.measured.get("max_memory_allocated") is not None:
        real = m.measured["max_memory_allocated"]
        lines.append(_line("measured max_memory_allocated", real,
                           f"traced run on the device; estimate/measured {m.peak / real:.3f}" if real else
                           "traced run on the device"))
    if m.inference_peak is not None and m.mode == "training":
        lines.append(_line("inference peak (no_grad)", m.inference_peak))
    if m.recompute_flops:
        lines.append(f"  {'recompute FLOPs (checkpointing)':<{LABEL}}{exact(m.recompute_flops):>20}")
    return lines


def assumption_lines(m: MemoryResult) -> list[str]:
    return ["Assumptions:"] + [f"  {a.name} = {a.value}: {a.meaning}" for a in m.assumptions]


def memory_lines(profile: Profile, short: bool = False, breakdown: bool = True) -> list[str]:
    """The memory figures and assumptions; ``short``: the assumptions as one list (and, without
    ``breakdown``, the peak alone)."""
    m = profile.memory
    if m is None:
        return []
    if short and not breakdown:
        label = f"Peak memory ({m.mode}" + (f", per device of {m.devices}" if m.devices > 1 else "") + ")"
        lines = [f"{label:<26}{exact(m.peak):>20}  B = {nbytes(m.peak)} at {peak_where(m, profile.model)}"]
    else:
        lines = figure_lines(m, profile.model)
    if profile.kv_cache is not None:
        kv = profile.kv_cache
        lines.append(_line(f"KV cache (batch {kv.batch}, context {kv.context})", kv.bytes, kv.formula))
    lines += [short_assumptions(m, breakdown)] if short else assumption_lines(m)
    lines.extend(f"note: {n}" for n in m.notes)
    return lines
