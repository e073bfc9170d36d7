"""Mixtures of experts: which layers route, total and active parameters, the routing assumed.

A mixture-of-experts layer is a module with a child called ``experts``: an ``nn.ModuleList`` of
per-expert modules (``experts.0``, ``experts.1``...) or one module holding the fused expert tensors
(transformers' ``MixtralExperts``: ``gate_up_proj [E, 2I, H]``, ``down_proj [E, H, I]``); or, without
such a child, a module with a ``gate``/``router`` whose other children stack their experts' tensors
(JetMoE's ``input_linear`` and ``output_linear``, with ``num_experts``). Its number
of experts ``E`` is the list's length, else the module's ``num_experts`` / the leading dimension of its
3-D tensors; ``top_k`` is read from the layer or its router (``top_k``, ``num_experts_per_tok``), else
from the model's config. A child called ``shared_expert`` / ``shared_experts`` is always active, so is
the router (``gate`` / ``router``).

Active parameters (what one token uses; the convention of Mistral's "12.9B active of 46.7B" for
Mixtral-8x7B, which counts embeddings and lm_head): every parameter outside the routed experts
(attention, embeddings, lm_head, norms, routers, shared experts, dense MLP layers) plus, per MoE layer,
``top_k / E`` of its routed experts' parameters (experts of one layer have the same size).

Routing: which expert a token goes to depends on the weights, which a meta trace does not have. The
FLOPs and memory of a grouped expert kernel (``_grouped_mm``) do not depend on it (every token-expert
pair is one row); a loop over per-expert modules does, and is traced with tokens routed by
:mod:`netcensus.trace.contexts.routing` (uniform by default: each expert gets
``tokens * top_k / E`` pairs; or given shares).
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from ..results.serving import MoEBlock, MoEInfo

_TOP_K = ("top_k", "num_experts_per_tok", "topk", "num_selected_experts", "moe_top_k")
_EXPERTS = ("num_experts", "num_local_experts", "n_routed_experts", "n_experts")


def _numel(module: nn.Module, seen: set[int]) -> int:
    total = 0
    for p in module.parameters():
        if id(p) not in seen:
            seen.add(id(p))
            total += p.numel()
    return total


def _int_attr(objs: Sequence[object], names: Sequence[str]) -> int | None:
    for obj in objs:
        for name in names:
            value = getattr(obj, name, None)
            if isinstance(value, int) and not isinstance(value, bool) and value > 0:
                return value
    return None


def expert_count(experts: nn.Module) -> int | None:
    """Experts in an ``experts`` module: a list's length, ``num_experts``, or the leading dimension
    of its 3-D tensors."""
    if isinstance(experts, (nn.ModuleList, nn.Sequential)):
        return len(experts)
    found = _int_attr([experts], _EXPERTS)
    if found:
        return found
    for p in experts.parameters(recurse=False):
        if p.dim() == 3:
            return p.shape[0]
    return None


def _routers(module: nn.Module) -> list[nn.Module]:
    return [getattr(module, n) for n in ("gate", "router") if isinstance(getattr(module, n, None), nn.Module)]


def routed_experts(module: nn.Module) -> list[nn.Module]:
    """The routed experts of a mixture-of-experts layer: its ``experts`` child, else (no such child: a
    layer with a ``gate``/``router`` and expert-stacked children, JetMoE's ``input_linear`` and
    ``output_linear``) those children, each holding ``num_experts`` or 3-D tensors."""
    experts = getattr(module, "experts", None)
    if isinstance(experts, nn.Module):
        return [experts]
    routers = _routers(module)
    if not routers:
        return []
    return [child for child in module.children()
            if all(child is not r for r in routers) and (expert_count(child) or 0) >= 2]


def moe_blocks(model: nn.Module) -> list[tuple[str, nn.Module, int, int]]:
    """(path, layer module, experts, top_k) of each mixture-of-experts layer of ``model`` (a layer
    inside another's routed experts is part of that one)."""
    config = getattr(model, "config", None)
    out: list[tuple[str, nn.Module, int, int]] = []
    inside: set[int] = set()
    for path, module in model.named_modules():
        if id(module) in inside:
            continue
        routed = routed_experts(module)
        counts = {expert_count(e) for e in routed}
        count = max((c for c in counts if c), default=0)
        if count < 2:
            continue
        top_k = _int_attr([module, *_routers(module), *routed], _TOP_K)
        if top_k is None and config is not None:
            top_k = _int_attr([config], _TOP_K)
        out.append((path, module, count, top_k or 1))
        inside |= {id(m) for e in routed for m in e.modules()}
    return out


def expert_counts(blocks: Sequence[tuple[str, nn.Module, int, int]]) -> list[int]:
    """The distinct numbers of experts of :func:`moe_blocks`' layers, ascending (what routing needs)."""
    return sorted({count for _, _, count, _ in blocks})


def moe_info(model: nn.Module, *, tokens: int = 0, shares: Sequence[float] | None = None) -> MoEInfo | None:
    """Total and active parameters of ``model`` (None when it has no mixture-of-experts layer).
    ``tokens``: tokens of one step (for the tokens each expert receives); ``shares``: the routing
    assumed (None: uniform)."""
    found = moe_blocks(model)
    if not found:
        return None
    seen_all: set[int] = set()
    total = _numel(model, seen_all)
    blocks = []
    inactive = 0.0
    seen: set[int] = set()
    for path, module, count, top_k in found:
        routed = routed_experts(module)
        # routers first: one inside the experts module (JetMoE's mixture of attention heads) is always
        # active too
        router = sum(_numel(r, seen) for r in [*_routers(module), *(r for e in routed for r in _routers(e))])
        experts = sum(_numel(e, seen) for e in routed)
        shared = sum(_numel(getattr(module, n), seen) for n in ("shared_expert", "shared_experts")
                     if isinstance(getattr(module, n, None), nn.Module))
        blocks.append(MoEBlock(path, count, top_k, experts, shared, router))
        inactive += experts * (1 - min(top_k, count) / count)
    first = blocks[0]
    per_expert = routed_tokens(tokens, first.top_k, first.experts, shares) if tokens else ()
    routing = "uniform" if shares is None else "shares " + ", ".join(f"{s:g}" for s in shares)
    return MoEInfo(total, round(total - inactive), tuple(blocks), routing, per_expert)


def routed_tokens(tokens: int, top_k: int, experts: int, shares: Sequence[float] | None = None
                  ) -> tuple[float, ...]:
    """Token-expert pairs each expert receives: ``tokens * top_k / experts`` each (uniform), or
    ``tokens * top_k * share`` with the shares normalised to sum to 1."""
    pairs = tokens * top_k
    if shares is None:
        return tuple(pairs / experts for _ in range(experts))
    norm = sum(shares)
    return tuple(pairs * s / norm for s in shares)
