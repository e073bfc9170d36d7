"""Tokens routed to experts by a stated assumption, so a mixture of experts traces on meta.

A router picks each token's experts with ``topk`` over its scores, which come from the weights: a meta
trace has no value for them, and a forward that loops over the experts it picked (``nonzero``,
``torch.where(expert_mask[e])``, ``if expert_idx == ...``) cannot go on. Within :func:`routing`, a
``topk`` over a last dimension of ``E`` (the experts of one of the model's mixture-of-experts layers)
returns its own values (the routing weights, computed as usual) with the *indices* replaced by a fixed
assignment: token ``t``'s ``j``-th choice is ``table[j*T + t]``, where ``table`` lists expert 0
``c_0`` times, then expert 1 ``c_1`` times..., with ``T*k`` entries (``T`` tokens, ``k`` = top_k):

* uniform (default): ``c_e = floor(T*k/E)``, plus one for the first ``T*k mod E`` experts;
* ``shares``: ``c_e`` proportional to the share (largest remainders), capped at ``T`` (an expert is
  chosen at most once per token).

Each ``c_e <= T``, so a token's k choices are distinct experts. The indices are made on the CPU and
moved to the device of the scores (``aten._to_copy``, recorded as a copy: 0 FLOPs; the first router
also makes one int64 zero, kept for the block), so on meta the tracer knows their values (see
values.py) and the forward's value reads follow them, as a real run with this routing does. On a
real device the same copy is made: a real CPU run under :func:`routing` routes exactly as the meta
trace does, which the tests compare.

``one_hot`` of the routing indices (transformers' expert masks) on meta runs PyTorch's meta path, an
``eq`` against an ``arange`` (``tokens * top_k * classes`` comparisons) where the CPU and CUDA kernels
fill zeros and scatter ones (the CPU's after an ``aminmax`` range check): within :func:`routing` a
meta ``one_hot`` runs the target's way.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import _disable_current_modes

from ...errors import SpecError

_TOPK = {torch.topk, torch.Tensor.topk}
_ONE_HOT = {torch.nn.functional.one_hot}


def counts(pairs: int, experts: int, tokens: int, shares: Sequence[float] | None = None) -> list[int]:
    """Token-expert pairs per expert for ``pairs`` pairs over ``experts`` (see the module docstring)."""
    if shares is None:
        base, extra = divmod(pairs, experts)
        return [base + (e < extra) for e in range(experts)]
    if len(shares) != experts or any(s < 0 for s in shares) or not sum(shares):
        raise SpecError(f"routing shares {list(shares)} for {experts} experts",
                        fix=f"give {experts} non-negative shares, not all zero")
    total = float(sum(shares))
    exact = [pairs * s / total for s in shares]
    out = [min(int(x), tokens) for x in exact]
    order = sorted(range(experts), key=lambda e: exact[e] - int(exact[e]), reverse=True)
    i = 0
    while sum(out) < pairs:  # largest remainders first, then spill over experts that are not full
        e = order[i % experts]
        if out[e] < tokens:
            out[e] += 1
        i += 1
        if i > 4 * experts * (pairs + 1):
            raise SpecError("routing shares cannot place every token", fix="give fewer zero shares")
    return out


def assignment(tokens: int, top_k: int, experts: int, shares: Sequence[float] | None = None) -> torch.Tensor:
    """int64 ``[tokens, top_k]``: the experts of each token's choices (see the module docstring)."""
    if top_k > experts:
        raise SpecError(f"top_k {top_k} > {experts} experts")
    per = counts(tokens * top_k, experts, tokens, shares)
    table = torch.repeat_interleave(torch.arange(experts), torch.tensor(per, dtype=torch.int64))
    return table.view(top_k, tokens).t().contiguous()


class _Routing(TorchFunctionMode):
    def __init__(self, experts: frozenset[int], shares: Sequence[float] | None, target: str):
        super().__init__()
        self.experts = experts
        self.shares = shares
        self.target = target
        self.calls = 0
        self.anchor: torch.Tensor | None = None

    def _one_hot(self, x: torch.Tensor, num_classes: int) -> torch.Tensor:
        """``one_hot`` as the target's kernel runs it (the meta path compares with an ``arange``)."""
        if self.target == "cpu" and x.numel():
            low, high = torch.aminmax(x)  # the CPU kernel's range checks (two value reads)
            if int(low) < 0 or int(high) >= num_classes:
                raise RuntimeError("one_hot: class values out of range")
        out = torch.zeros((*x.shape, num_classes), dtype=x.dtype, device=x.device)
        return out.scatter_(-1, x.unsqueeze(-1), 1)

    def __torch_function__(self, func: Any, types: Any, args: tuple = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        if func in _ONE_HOT:
            x = args[0] if args else kwargs.get("tensor")
            classes = args[1] if len(args) > 1 else kwargs.get("num_classes", -1)
            if isinstance(x, torch.Tensor) and x.is_meta and isinstance(classes, int) and classes > 0:
                return self._one_hot(x, classes)
        out = func(*args, **kwargs)
        if func not in _TOPK:
            return out
        x = args[0] if args else kwargs.get("input")
        k = args[1] if len(args) > 1 else kwargs.get("k")
        dim = args[2] if len(args) > 2 else kwargs.get("dim", -1)
        if (not isinstance(x, torch.Tensor) or not x.is_floating_point() or x.dim() < 1
                or dim not in (-1, x.dim() - 1) or x.shape[-1] not in self.experts or not isinstance(k, int)):
            return out
        experts = x.shape[-1]
        tokens = x.numel() // experts
        with _disable_current_modes():  # the table itself is not an op of the model
            table = assignment(tokens, k, experts, self.shares if self.shares and len(self.shares) == experts
                               else None).view(*x.shape[:-1], k)
        self.calls += 1
        if self.anchor is None:
            # one element made by a factory op, whose value the tracer knows: with it, its table of known
            # values is never empty, and the copy below is followed even in a model with no integer input
            # (values.py skips every op while that table is empty)
            self.anchor = torch.zeros((), dtype=torch.int64, device=x.device)
        indices = table.to(x.device, copy=True)  # recorded: a copy, whose values the tracer knows
        try:
            return type(out)((out[0], indices))  # torch.return_types.topk
        except TypeError:
            return (out[0], indices)


@contextmanager
def routing(experts: Sequence[int], shares: Sequence[float] | None = None, *, target: str = "cuda"
            ) -> Iterator[_Routing]:
    """Within the block, ``topk`` over a last dimension in ``experts`` routes tokens by the assumption
    (uniform, or ``shares`` per expert). Enter it around ``netcensus.profile``/``trace_model``.
    ``target`` (the profile's): how ``one_hot`` of the routing indices runs on meta: as CUDA's kernel
    (zeros + scatter) or the CPU's (a range check with ``aminmax`` first); PyTorch's meta path compares
    every index with every class instead."""
    if not experts:
        raise SpecError("routing() needs the number of experts of the model's MoE layers",
                        fix="pass netcensus.analyses.moe.moe_blocks(model) counts")
    mode = _Routing(frozenset(int(e) for e in experts), tuple(shares) if shares is not None else None, target)
    with mode:
        yield mode
