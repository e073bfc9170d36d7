"""The memory block under the table: every figure with the assumptions it rests on."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..units import exact, nbytes

if TYPE_CHECKING:
    from ..results.profile import Profile

LABEL = 34


def _line(label: str, n: int, note: str = "") -> str:
    return f"  {label:<{LABEL}}{exact(n):>20} B  {nbytes(n):>12}" + (f"  {note}" if note else "")


def memory_lines(profile: Profile) -> list[str]:
    m = profile.memory
    if m is None:
        return []
    per = f", per device of {m.devices}" if m.devices > 1 else ""
    lines = [f"Memory ({m.mode} step{per}; bytes exact, IEC units):"]
    lines.append(_line("weights", m.weights))
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
    at = m.peak_at
    where = at.phase
    if at.phase in ("forward", "backward"):
        where += f", {at.module or profile.model}"
    if at.op:
        where += f", {at.op}"
    lines.append(_line("peak", m.peak, f"at {where}"))
    if m.inference_peak is not None and m.mode == "training":
        lines.append(_line("inference peak (no_grad)", m.inference_peak))
    if m.recompute_flops:
        lines.append(f"  {'recompute FLOPs (checkpointing)':<{LABEL}}{exact(m.recompute_flops):>20}")
    if profile.kv_cache is not None:
        kv = profile.kv_cache
        lines.append(_line(f"KV cache (batch {kv.batch}, context {kv.context})", kv.bytes, kv.formula))
    lines.append("Assumptions:")
    lines.extend(f"  {a.name} = {a.value}: {a.meaning}" for a in m.assumptions)
    lines.extend(f"note: {n}" for n in m.notes)
    return lines
