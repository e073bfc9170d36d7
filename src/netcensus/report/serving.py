"""Text report of a serving result: prefill and decode side by side, weights by format, MoE, fit."""

from __future__ import annotations

from ..results.serving import Phase, ServingResult
from ..units import exact, nbytes, si


def _rows(p: Phase) -> list[str]:
    per_token = p.flops_per_token
    return [
        f"{p.batch} x {p.new_tokens}",
        f"{p.context:,}",
        si(p.flops),
        si(per_token),
        si(p.attention_flops),
        nbytes(p.weights),
        nbytes(p.kv_cache),
        nbytes(p.temporaries),
        nbytes(p.peak),
    ]


_LABELS = ["tokens (batch x new)", "cache positions after", "FLOPs", "FLOPs per token", "attention FLOPs",
           "weights", "KV cache", "temporaries at peak", "peak (weights+cache+temp.)"]


def render_serving(r: ServingResult, *, explain: bool = False, width: int = 100) -> str:
    """The serving report; ``explain`` adds each parameter's bytes with its format's arithmetic."""
    w = r.weights
    lines = [f"{r.model} | serving: weights {w.format}, KV cache {r.kv_dtype}"]
    pre, dec = _rows(r.prefill), _rows(r.decode)
    left = max(len(x) for x in _LABELS)
    col = max(12, *(len(x) for x in pre + dec))
    lines.append(f"{'':<{left}}  {'prefill':>{col}}  {'decode':>{col}}")
    lines.append("-" * (left + 2 * col + 4))
    for label, a, b in zip(_LABELS, pre, dec):
        lines.append(f"{label:<{left}}  {a:>{col}}  {b:>{col}}")
    lines.append("")
    lines.append(f"Weights ({w.format}): {exact(w.bytes)} B = {nbytes(w.bytes)}: "
                 f"quantised {nbytes(w.quantized_bytes)}"
                 f" + kept {nbytes(w.kept_bytes)} (embeddings, lm_head, norms, biases...); "
                 f"in their own dtypes {nbytes(w.original_bytes)}")
    lines.append(f"  layout: {w.layout}")
    lines.append(f"  source: {w.source}")
    lines.append(f"KV cache (decode): {r.decode.kv_formula}")
    if r.moe is not None:
        m = r.moe
        first = m.blocks[0]
        lines.append(f"Mixture of experts: {len(m.blocks)} layers of {first.experts} experts, "
                     f"top-{first.top_k}; "
                     f"total params {exact(m.total_params)} ({si(m.total_params)}), "
                     f"active per token {exact(m.active_params)} ({si(m.active_params)}); "
                     f"routing {m.routing}")
        if m.tokens_per_expert:
            shown = ", ".join(f"{x:g}" for x in m.tokens_per_expert[:8])
            more = " ..." if len(m.tokens_per_expert) > 8 else ""
            lines.append(f"  token-expert pairs per expert in the prefill: {shown}{more}")
    if r.fit is not None:
        f = r.fit
        lines.append(f"Fit: largest {f.along} whose decode peak fits {nbytes(f.budget)}: {f.value:,}"
                     + (f" (peak {nbytes(f.peak)})" if f.peak else "") + f"; {len(f.tries)} sizes traced")
    for note in r.notes:
        lines.append(f"note: {note}")
    if explain:
        lines.append("")
        lines.append("Bytes of each parameter (format: arithmetic):")
        for t in w.tensors:
            lines.append(f"  {t.name} {list(t.shape)} {t.format}: {t.formula}")
    return "\n".join(_wrap(line, width) for line in lines)


def _wrap(line: str, width: int) -> str:
    if len(line) <= width:
        return line
    out, rest = [], line
    while len(rest) > width:
        cut = rest.rfind(" ", 0, width)
        if cut <= 4:
            cut = width
        out.append(rest[:cut])
        rest = "    " + rest[cut:].lstrip()
    out.append(rest)
    return "\n".join(out)
