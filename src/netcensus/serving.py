"""Serving a causal language model: prefill and decode side by side, quantised weights, a KV cache dtype,
mixtures of experts, and the largest batch or context that fits a memory budget.

``serve(model, batch=8, prompt=512, kv_context=4096, weights="nf4", kv_dtype="fp8")`` traces, on meta:

* the **prefill**: ``batch`` prompts of ``prompt`` tokens, filling the model's own cache
  (transformers' ``DynamicCache``; with ``logits_to_keep=1`` where the forward takes it, as
  ``generate`` asks: logits for the last position only);
* the **decode**: one new token per sequence against a cache of ``kv_context`` positions (default:
  the prompt's), filled by a prefill of that length.

For each: FLOPs (per token: ``flops / (batch * new tokens)``) and the attention's share; memory as a
serving engine holds it (docs/memory.md, "Serving"): the weights in the chosen format (formulas in
:mod:`netcensus.analyses.quantization`) + the KV cache after the step, read from the model's cache
tensors (so sliding windows, grouped-query heads and latent caches have their real sizes) in
``kv_dtype`` + the temporaries at the traced step's peak (activations and workspaces: the traced
peak less weights, buffers and the step's outputs, i.e. the cache and logits). Mixtures of experts
are traced with tokens routed uniformly (or by ``routing`` shares), with total and active parameters.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import torch
from torch import nn

from .analyses.memory import fit as search_fit
from .analyses.moe import expert_counts, moe_blocks, moe_info
from .analyses.quantization import kv_dtype as parse_kv_dtype
from .analyses.quantization import parse_format, quantize
from .analyses.scaling import grid
from .api import profile
from .dtypes import itemsize
from .errors import SpecError
from .options.budget import parse_bytes
from .results.scaling import Polynomial
from .results.serving import Phase, QuantizedWeights, ServingFit, ServingResult
from .trace.contexts.routing import routing as routing_context

__all__ = ["serve", "decode_step", "ServingResult", "render"]


def _cache_keyword(model: nn.Module) -> str:
    params = inspect.signature(model.forward).parameters
    for name in ("cache", "past_key_values"):
        if name in params:
            return name
    raise SpecError(f"{type(model).__name__}.forward takes no cache (neither 'cache' nor 'past_key_values')",
                    where=type(model).__name__,
                    fix="serve() needs a Hugging Face causal language model (one with a KV cache)")


def _new_cache(model: nn.Module) -> Any:
    config = getattr(model, "config", None)
    if config is None:
        raise SpecError(f"{type(model).__name__} has no config: decode needs a Hugging Face causal LM",
                        where=type(model).__name__, fix="load it with hf:NAME or a transformers config")
    from transformers import DynamicCache

    return DynamicCache(config=config)


def _cache_tensors(cache: Any) -> list[torch.Tensor]:
    out: list[torch.Tensor] = []
    for layer in getattr(cache, "layers", ()):
        for name in ("keys", "values"):
            t = getattr(layer, name, None)
            if isinstance(t, torch.Tensor):
                out.append(t)
    return out


def _kv(cache: Any, dtype: str | None) -> tuple[int, str]:
    tensors = _cache_tensors(cache)
    if not tensors:
        return 0, "no cache tensors"
    elements = sum(t.numel() for t in tensors)
    dt = dtype or str(tensors[0].dtype).removeprefix("torch.")
    size = itemsize(dt)
    shapes = sorted({tuple(t.shape) for t in tensors})
    layers = len(getattr(cache, "layers", ()))
    listed = ", ".join(map(str, shapes[:4]))
    return elements * size, (f"sum over {layers} layers of the cached keys and values = {elements:,} "
                             f"elements * {size} ({dt}) = {elements * size:,} B; shapes {listed}"
                             + (" ..." if len(shapes) > 4 else ""))


def _step(model: nn.Module, inputs: dict[str, Any], options: dict[str, Any]) -> Any:
    return profile(model, inputs=inputs, depth=None, **options)


def _phase(name: str, p: Any, batch: int, new: int, context: int, weights: QuantizedWeights,
           kv: tuple[int, str]) -> Phase:
    fwd = p.compute.totals.forward
    attention = sum(i.figures.flops for i in p.compute.items if i.status == "region" and i.phase == "forward")
    breakdown = p.memory.peak_at.breakdown
    temporaries = sum(v for k, v in breakdown.items() if k not in ("weights", "buffers", "outputs"))
    per_token = fwd.flops // max(1, batch * new)
    return Phase(name, batch, new, context, fwd.flops, fwd.core_macs, per_token, attention,
                 weights.bytes, kv[0], kv[1], temporaries, weights.bytes + kv[0] + temporaries)


def _ids(batch: int, length: int) -> torch.Tensor:
    return torch.zeros((batch, length), dtype=torch.long, device="meta")


def _run(model: nn.Module, batch: int, prompt: int, context: int, weights: QuantizedWeights,
         kv_dt: str | None,
         options: dict[str, Any]) -> tuple[Phase, Phase]:
    key = _cache_keyword(model)
    extra = {"logits_to_keep": 1} if "logits_to_keep" in inspect.signature(model.forward).parameters else {}
    cache = _new_cache(model)
    pre = _step(model, {"input_ids": _ids(batch, prompt), key: cache, "use_cache": True, **extra}, options)
    prefill = _phase("prefill", pre, batch, prompt, prompt, weights, _kv(cache, kv_dt))
    if context != prompt:
        cache = _new_cache(model)
        _step(model, {"input_ids": _ids(batch, context), key: cache, "use_cache": True, **extra}, options)
    # no attention mask: no padding (a mask of batch * context elements would be a value the trace reads)
    dec = _step(model, {"input_ids": _ids(batch, 1), key: cache, "use_cache": True}, options)
    decode = _phase("decode", dec, batch, 1, context + 1, weights, _kv(cache, kv_dt))
    return prefill, decode


def serve(model: nn.Module, *, batch: int = 1, prompt: int = 128, kv_context: int | None = None,
          weights: str | None = None, kv_dtype: str | None = None, precision: str | None = None,
          routing: Sequence[float] | None = None, skip: Sequence[str] = ("lm_head",),
          budget: str | int | None = None, along: str = "batch", limit: int = 1 << 20,
          target: str = "cuda") -> ServingResult:
    """Prefill and decode of ``model`` (a Hugging Face causal LM, on meta or real) for serving.

    ``batch`` sequences of ``prompt`` tokens; decode of one token against ``kv_context`` cached
    positions (default ``prompt``). ``weights``: ``"fp16"``, ``"bf16"``, ``"int8"``, ``"nf4"``,
    ``"nf4-dq"``, ``"fp4"``, ``"gptq[:group]"``, ``"awq[:group]"``, ``"fp8"``, ``"fp8-channel"``,
    ``"fp8-block"`` (default: the parameters' own dtype); ``skip``: modules kept unquantised beside
    embeddings and norms. ``kv_dtype``: ``"fp16"``, ``"bf16"``, ``"fp8"``, ``"int8"`` (default: the
    traced cache's). ``precision``: the compute dtype traced (``"bf16"``...; see ``profile``).
    ``routing``: per-expert shares of the tokens for mixtures of experts (default uniform).
    ``budget`` ("80GiB"): also find the largest ``along="batch"`` or ``"context"`` whose decode peak fits.
    """
    if not isinstance(model, nn.Module):
        raise SpecError(f"serve() needs a torch.nn.Module, got {type(model).__name__}")
    for label, value in (("batch", batch), ("prompt", prompt)):
        if not isinstance(value, int) or value < 1:
            raise SpecError(f"{label} must be a positive integer, got {value!r}", where=label)
    context = prompt if kv_context is None else kv_context
    if not isinstance(context, int) or context < 1:
        raise SpecError(f"kv_context must be a positive integer, got {kv_context!r}", where="kv_context")
    if along not in ("batch", "context"):
        raise SpecError(f"along must be 'batch' or 'context', got {along!r}", where="along")
    kv_dt = parse_kv_dtype(kv_dtype)
    notes: list[str] = []
    fmt = parse_format(weights) if weights is not None else None
    if fmt is not None and fmt.quantized and precision is None and _own_dtype(model) == "fp32":
        # quantised layers compute in 16 bits (GPTQ/AWQ kernels in fp16): so do the kept parameters
        precision = "fp16" if fmt.name in ("gptq", "awq") else "bf16"
        notes.append(f"the model's parameters are float32: traced in {precision} with the unquantised "
                     f"parameters in {precision}, as {fmt.name} serving runs (--precision to change)")
    dtype = precision if precision in ("fp32", "fp16", "bf16") else None
    if weights is None:
        weights = dtype or _own_dtype(model)
    qw = quantize(model, weights, dtype=dtype, skip=skip)
    options: dict[str, Any] = {"target": target}
    if precision is not None:
        options["precision"] = precision
    blocks = moe_blocks(model)
    experts = expert_counts(blocks)

    def run(b: int, prompt_len: int, ctx: int) -> tuple[Phase, Phase]:
        if experts:
            with routing_context(experts, routing, target=target):
                return _run(model, b, prompt_len, ctx, qw, kv_dt, options)
        return _run(model, b, prompt_len, ctx, qw, kv_dt, options)

    prefill, decode = run(batch, prompt, context)
    moe = moe_info(model, tokens=batch * prompt, shares=routing) if blocks else None
    if moe is not None:
        notes.append(f"mixture of experts: tokens routed {moe.routing} (each expert of a layer gets "
                     f"tokens * top_k / experts token-expert pairs when uniform); grouped expert kernels "
                     f"cost the same under any routing")
    if any(path.endswith("kv_b_proj") for path, _ in model.named_modules()):
        notes.append("multi-head latent attention: this implementation decompresses the whole cached latent "
                     "(kv_b_proj over every cached position) at each decode step, which the decode FLOPs "
                     "include; engines that absorb kv_b_proj into the query and output projections "
                     "(vLLM, SGLang) do not")
    if "logits_to_keep" in inspect.signature(model.forward).parameters:
        notes.append("prefill computes the logits of the last position only (logits_to_keep=1, as generate)")
    fit = _fit(run, budget, along, batch, prompt, context, decode, limit) if budget is not None else None
    total = sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())
    return ServingResult(type(model).__name__, qw, kv_dt or "as traced", prefill, decode, moe, fit, total,
                         tuple(notes))


def decode_step(model: nn.Module, *, batch: int = 1, kv_context: int = 128,
                routing: Sequence[float] | None = None, **options: Any) -> Any:
    """The :class:`~netcensus.results.profile.Profile` of one decode step: ``batch`` sequences each
    generating one token against a cache of ``kv_context`` positions (filled by tracing a prefill of
    that length first). ``options`` are :func:`netcensus.profile`'s (``precision``, ``target``,
    ``gpu``...; ``kv_context`` there adds the cache estimate). Mixtures of experts are routed uniformly
    (or by ``routing`` shares). This is what ``profile(decode=True)`` needs."""
    key = _cache_keyword(model)
    blocks = moe_blocks(model)
    experts = expert_counts(blocks)
    target = options.get("target", "cuda")
    extra = {"logits_to_keep": 1} if "logits_to_keep" in inspect.signature(model.forward).parameters else {}

    def steps() -> Any:
        cache = _new_cache(model)
        profile(model, inputs={"input_ids": _ids(batch, kv_context), key: cache, "use_cache": True, **extra},
                depth=None, **{k: v for k, v in options.items() if k in ("precision", "target")})
        return profile(model, inputs={"input_ids": _ids(batch, 1), key: cache, "use_cache": True}, **options)

    if experts:
        with routing_context(experts, routing, target=target):
            return steps()
    return steps()


def _own_dtype(model: nn.Module) -> str:
    dtypes = {p.dtype for p in model.parameters() if p.is_floating_point()}
    if len(dtypes) == 1:
        return {torch.float16: "fp16", torch.bfloat16: "bf16"}.get(dtypes.pop(), "fp32")
    return "fp32"


def _fit(run: Any, budget: str | int, along: str, batch: int, prompt: int, context: int, decode: Phase,
         limit: int) -> ServingFit:
    """The largest batch (at ``context``) or context (at ``batch``) whose decode peak fits: traced at
    doubling sizes until a quadratic through three of them predicts the next one exactly (the peak is
    then at the same place, a polynomial of the size), answered from that quadratic and confirmed by
    traces at the answer and the next size; otherwise by the doubling-and-bisection search over
    traces (analyses.memory.fit)."""
    start = batch if along == "batch" else context
    tries: dict[int, int] = {start: decode.peak}

    def peak_at(n: int) -> int:
        if n not in tries:
            if along == "batch":
                _, dec = run(n, min(prompt, context), context)
            else:
                _, dec = run(batch, min(prompt, n), n)
            tries[n] = dec.peak
        return tries[n]

    cap = parse_bytes(budget)
    guess = _polynomial_answer(peak_at, cap, start, limit)
    if guess is not None:
        return ServingFit(along, cap, guess, tries.get(guess, 0),
                          "a quadratic through traced sizes that predicted the next exactly, confirmed by "
                          f"traces at the answer and the next size ({len(tries)} traces)",
                          tuple(sorted(tries.items())))
    found = search_fit(peak_at, budget, limit=limit)
    value = int(found.value)
    return ServingFit(along, found.budget, value, tries.get(value, 0),
                      f"decode traced at each size tried (doubling, then bisection; {len(tries)} traces)",
                      tuple(sorted(tries.items())))


def _largest_fitting(poly: Polynomial, cap: int, start: int, limit: int) -> int:
    """The largest size in ``[start, limit]`` whose ``poly`` fits ``cap`` (0: none)."""
    return int(search_fit(lambda n: int(poly(n)), cap, start=start, limit=limit).value)


def _polynomial_answer(peak_at: Any, cap: int, start: int, limit: int) -> int | None:
    """The answer of the doubling sizes' quadratic (see :func:`_fit`), confirmed by traces; None when no
    three sizes predicted the next or a confirmation disagreed."""
    sizes = [start]
    while peak_at(sizes[-1]) <= cap and sizes[-1] < limit:
        sizes.append(min(2 * sizes[-1], limit))
        if len(sizes) < 4:
            continue
        quadratic = grid(sizes[-4:-1], [1]).solve([peak_at(x) for x in sizes[-4:-1]])
        if quadratic(sizes[-1]) != peak_at(sizes[-1]):
            continue
        guess = _largest_fitting(quadratic, cap, start, limit)
        ok = guess > 0 and peak_at(guess) <= cap and (guess == limit or peak_at(guess + 1) > cap)
        return guess if ok else None
    return None


def render(result: ServingResult, *, explain: bool = False, width: int = 100) -> str:
    """The text report of :func:`serve` (``explain``: the bytes of every tensor with its formula)."""
    from .report.serving import render_serving

    return render_serving(result, explain=explain, width=width)


def with_weights(result: ServingResult, model: nn.Module, weights: str, skip: Sequence[str] = ("lm_head",)
                 ) -> ServingResult:
    """``result`` with its weights in another format, without tracing again (the step's FLOPs and
    temporaries do not depend on how weights are stored)."""
    qw = quantize(model, weights, skip=skip)
    phases = [replace(p, weights=qw.bytes, peak=qw.bytes + p.kv_cache + p.temporaries)
              for p in (result.prefill, result.decode)]
    return replace(result, weights=qw, prefill=phases[0], decode=phases[1])
