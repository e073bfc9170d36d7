"""Emulation of ``torch.autocast`` for meta tensors, so mixed-precision memory can be traced.

``torch.autocast`` has no effect on meta tensors: there is no autocast dispatch key for the meta
backend. :class:`AutocastEmulation` is a ``TorchFunctionMode`` that does what autocast does, above
autograd (so casts are recorded and the low-precision copies are what autograd saves), following
PyTorch's autocast op lists (``aten/src/ATen/autocast_mode.h``). Policies, by torch function:

* ``lower``: floating inputs (not float64) are cast to the low dtype: convolutions (``conv1d/2d/3d``,
  ``conv_transpose1d/2d/3d``, ``conv_tbc``, ``convolution``), ``prelu``, ``linear``, ``matmul``
  (and ``@``), ``mm``, ``mv``, ``bmm``, ``addmm``, ``addmv``, ``addr``, ``addbmm``, ``baddbmm``,
  ``einsum``, ``chain_matmul``, ``linalg.multi_dot``, ``linalg.vecdot``, RNN cells,
  ``scaled_dot_product_attention``, and ``flex_attention``'s query, key and value (its operator's
  autocast rule, CUDA and CPU; traced as :func:`netcensus.trace.flex.flex_attention_region`).
* ``fp32``: floating inputs are cast to float32: ``acos asin cosh erfinv exp expm1 log log10 log2
  log1p reciprocal rsqrt sinh tan pow softplus layer_norm group_norm cosine_similarity dist pdist
  cdist renorm logsumexp``, the losses (``mse_loss``, ``l1_loss``, ``nll_loss``, ``kl_div``,
  ``binary_cross_entropy_with_logits``...), interpolation (``upsample_*``), ``norm``.
* ``fp32-dtype``: run with ``dtype=torch.float32`` unless a dtype is given: ``softmax``,
  ``log_softmax``, ``sum``, ``prod``, ``cumsum``, ``cumprod``, ``linalg.vector_norm``,
  ``linalg.matrix_norm``.
* ``promote``: inputs are cast to the widest floating dtype among them: ``addcdiv addcmul atan2
  bilinear cross dot vdot grid_sample index_put tensordot scatter_add``.

Three Python-level functions are handled as a whole, because a ``TorchFunctionMode`` does not see
the torch calls made inside a function it intercepts: ``F.multi_head_attention_forward`` (``lower``:
its projections, products and attention then run in the low dtype), ``F.cross_entropy`` (``fp32``,
as its inner ``log_softmax`` and ``nll_loss`` are) and ``F.interpolate`` (``fp32``). Other
Python-level composites are seen as a whole and not cast inside.

Like autocast, low-precision casts of float32 leaf tensors that require grad (the weights) are cached
for reuse; autocast clears the cache when its context exits, after the forward, so the emulation
clears it when the outermost module call returns. Backward formulas are never cast (no torch-function
mode sees them); a checkpointed block recomputed in backward is, as under real autocast.

``CPU_LISTS`` reproduces CPU autocast's lower-precision list and its float32 losses; it exists to
check the emulation against a real CPU autocast run, where ``layer_norm``/``softmax`` are not in the
float32 list.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from contextlib import AbstractContextManager
from typing import Any

import torch
import torch.nn.functional as F
from torch.nn.modules import module as nn_module
from torch.overrides import TorchFunctionMode

from ..flex import flex_attention_region

LOWER = "lower"
FP32 = "fp32"
FP32_DTYPE = "fp32-dtype"
PROMOTE = "promote"
LOG_SOFTMAX_FP32 = "log-softmax-fp32"
"""CUDA's cross_entropy: no autocast kernel of its own, so its inner log_softmax takes the fp32-dtype
policy, which CUDA runs as ``_log_softmax(x, dim, half_to_float=True)``: a float32 output straight from
the 16-bit input (no float32 copy of the input), and a 16-bit input gradient in backward."""

_CUDA_LOWER = (
    "_convolution conv1d conv2d conv3d conv_tbc conv_transpose1d conv_transpose2d conv_transpose3d "
    "convolution prelu addmm addmv addr matmul einsum mm mv linalg_vecdot linear addbmm baddbmm bmm "
    "chain_matmul linalg_multi_dot lstm_cell gru_cell rnn_tanh_cell rnn_relu_cell "
    "scaled_dot_product_attention multi_head_attention_forward flex_attention"
)
_LOSSES = (
    "poisson_nll_loss cosine_embedding_loss nll_loss hinge_embedding_loss kl_div l1_loss smooth_l1_loss "
    "huber_loss mse_loss margin_ranking_loss multilabel_margin_loss soft_margin_loss triplet_margin_loss "
    "multi_margin_loss binary_cross_entropy_with_logits cross_entropy"
)
_CUDA_FP32 = (
    "acos asin cosh erfinv exp expm1 log log10 log2 log1p reciprocal rsqrt sinh tan pow softplus layer_norm "
    "group_norm cosine_similarity dist pdist cdist renorm logsumexp interpolate upsample upsample_nearest "
    "upsample_bilinear norm " + _LOSSES.replace(" cross_entropy", "")
)
_CUDA_FP32_DTYPE = "prod softmax log_softmax cumprod cumsum linalg_vector_norm linalg_matrix_norm sum"
_CUDA_PROMOTE = "addcdiv addcmul atan2 bilinear cross dot vdot grid_sample index_put tensordot scatter_add"

CUDA_LISTS: dict[str, str] = {LOWER: _CUDA_LOWER, FP32: _CUDA_FP32, FP32_DTYPE: _CUDA_FP32_DTYPE,
                              PROMOTE: _CUDA_PROMOTE, LOG_SOFTMAX_FP32: "cross_entropy"}
"""CUDA autocast's policies by op name (the default)."""

CPU_LISTS: dict[str, str] = {
    LOWER: "conv1d conv2d conv3d bmm mm linalg_vecdot baddbmm addmm addbmm linear _convolution matmul "
           "conv_tbc conv_transpose1d conv_transpose2d conv_transpose3d prelu scaled_dot_product_attention "
           "flex_attention",
    FP32: _LOSSES,
}
"""CPU autocast's lower-precision list and float32 losses (to validate the emulation on CPU)."""

_NAMESPACES: tuple[Any, ...] = (torch, torch.Tensor, F, torch._C._nn, torch.special)
_DUNDERS = {"matmul": ("__matmul__", "__rmatmul__"), "pow": ("__pow__", "__rpow__")}


def resolve(lists: Mapping[str, str]) -> dict[Callable[..., Any], str]:
    """Torch callables (as a ``TorchFunctionMode`` sees them) -> policy, from op names."""
    table: dict[Callable[..., Any], str] = {}
    for policy, names in lists.items():
        for name in names.split():
            found = []
            for ns in _NAMESPACES:
                found.append(getattr(ns, name, None))
            if name.startswith("linalg_"):
                found.append(getattr(torch.linalg, name.removeprefix("linalg_"), None))
            for dunder in _DUNDERS.get(name, ()):
                found.append(getattr(torch.Tensor, dunder))
            if name == "flex_attention":  # (its operator's autocast rule; see netcensus.trace.flex)
                found = [flex_attention_region]
            for f in found:
                if f is not None and callable(f):
                    table[f] = policy
    return table


def _eligible(t: Any) -> bool:
    return isinstance(t, torch.Tensor) and t.is_floating_point() and t.dtype != torch.float64


def _map(value: Any, fn: Callable[[torch.Tensor], torch.Tensor]) -> Any:
    if isinstance(value, torch.Tensor):
        return fn(value)
    if isinstance(value, (list, tuple)) and not hasattr(value, "_fields"):
        return type(value)(_map(v, fn) for v in value)
    return value


def _tensors(value: Any) -> Iterable[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        yield value
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _tensors(v)
    elif isinstance(value, Mapping):
        for v in value.values():
            yield from _tensors(v)


class AutocastEmulation(TorchFunctionMode):
    """Cast the inputs of the ops autocast would cast (see the module docstring).

    ``dtype`` is the low-precision dtype; ``lists`` maps policies to op names (:data:`CUDA_LISTS`
    by default); ``cache`` caches low-precision copies of weights until the outermost module returns.
    """

    def __init__(self, dtype: torch.dtype = torch.bfloat16, lists: Mapping[str, str] | None = None,
                 cache: bool = True):
        super().__init__()
        self.dtype = dtype
        self.table = resolve(CUDA_LISTS if lists is None else lists)
        self.cache_enabled = cache
        self.cache: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
        self.depth = 0
        self.handles: list[Any] = []

    # -- context ---------------------------------------------------------------------------------

    def __enter__(self) -> AutocastEmulation:
        self.handles = [
            nn_module.register_module_forward_pre_hook(self._pre),
            nn_module.register_module_forward_hook(self._post, always_call=True),
        ]
        return super().__enter__()  # type: ignore[return-value]

    def __exit__(self, *exc: Any) -> None:
        try:
            super().__exit__(*exc)
        finally:
            for h in self.handles:
                h.remove()
            self.handles = []
            self.cache.clear()
            self.depth = 0

    def _pre(self, module: Any, args: Any) -> None:
        self.depth += 1

    def _post(self, module: Any, args: Any, output: Any) -> None:
        self.depth = max(0, self.depth - 1)
        if self.depth == 0:
            self.cache.clear()  # autocast clears its cache when its context exits, after the forward

    # -- casting ---------------------------------------------------------------------------------

    def _lower(self, t: torch.Tensor) -> torch.Tensor:
        if not _eligible(t) or t.dtype == self.dtype:
            return t
        cacheable = (self.cache_enabled and t.dtype == torch.float32 and t.requires_grad and t.is_leaf
                     and not t._is_view())
        if cacheable:
            hit = self.cache.get(id(t))
            if hit is not None and hit[0] is t:
                return hit[1]
        out = t.to(self.dtype)
        if cacheable:
            self.cache[id(t)] = (t, out)
        return out

    def __torch_function__(self, func, types, args=(), kwargs=None):  # type: ignore[override]
        kwargs = dict(kwargs or {})
        policy = self.table.get(func)
        # (No test for backward: the autograd engine runs backward formulas without torch-function modes.
        # The tracer puts this mode back only for a checkpointed block's recomputation, which real
        # checkpointing runs under the forward's autocast state: it is cast as the forward was.)
        if policy is None:
            return func(*args, **kwargs)
        if policy == LOWER and func is F.multi_head_attention_forward:
            # one cast per tensor object: self-attention passes x as query, key and value, and real
            # autocast casts it once (in the packed in-projection); three casts would also break
            # `query is key is value`, which picks that packed path
            memo: dict[int, torch.Tensor] = {}

            def once(t: torch.Tensor) -> torch.Tensor:
                if id(t) not in memo:
                    memo[id(t)] = self._lower(t)
                return memo[id(t)]
            args, kwargs = _map(args, once), {k: _map(v, once) for k, v in kwargs.items()}
        elif policy == LOWER and func is flex_attention_region:  # its query, key and value only
            kwargs = {k: self._lower(v) if k in ("query", "key", "value") else v for k, v in kwargs.items()}
        elif policy == LOWER:
            args, kwargs = _map(args, self._lower), {k: _map(v, self._lower) for k, v in kwargs.items()}
        elif policy == FP32:
            def up(t: torch.Tensor) -> torch.Tensor:
                return t.float() if _eligible(t) and t.dtype != torch.float32 else t
            args, kwargs = _map(args, up), {k: _map(v, up) for k, v in kwargs.items()}
        elif policy == FP32_DTYPE:
            given = kwargs.get("dtype") is not None or any(isinstance(a, torch.dtype) for a in args)
            first = next(iter(_tensors(args)), None)
            if not given and first is not None and _eligible(first) and first.dtype != torch.float32:
                kwargs["dtype"] = torch.float32
        elif policy == LOG_SOFTMAX_FP32:
            done = _cross_entropy_half_to_float(args, kwargs)
            if done is not None:
                return done
            def up32(t: torch.Tensor) -> torch.Tensor:  # (any other input: float32, as before)
                return t.float() if _eligible(t) and t.dtype != torch.float32 else t
            args, kwargs = _map(args, up32), {k: _map(v, up32) for k, v in kwargs.items()}
        elif policy == PROMOTE:
            floats = [t for t in _tensors((args, kwargs)) if _eligible(t)]
            if floats:
                wide = torch.float32 if any(t.dtype == torch.float32 for t in floats) else floats[0].dtype
                def to_wide(t: torch.Tensor) -> torch.Tensor:
                    return t.to(wide) if _eligible(t) and t.dtype != wide else t
                args, kwargs = _map(args, to_wide), {k: _map(v, to_wide) for k, v in kwargs.items()}
        return func(*args, **kwargs)


_CE_NAMES = ("input", "target", "weight", "size_average", "ignore_index", "reduce", "reduction",
             "label_smoothing")


def _cross_entropy_half_to_float(args: tuple, kwargs: dict) -> torch.Tensor | None:
    """``F.cross_entropy`` of a 16-bit meta input as CUDA autocast runs it (:data:`LOG_SOFTMAX_FP32`):
    ``nll_loss(_log_softmax(x, 1, half_to_float=True), target)``; None when the call is not that case
    (class probabilities as targets, label smoothing, the legacy arguments, another device)."""
    bound = dict(zip(_CE_NAMES, args))
    bound.update(kwargs)
    x, target = bound.get("input"), bound.get("target")
    if not (isinstance(x, torch.Tensor) and isinstance(target, torch.Tensor) and x.device.type == "meta"
            and x.dtype in (torch.float16, torch.bfloat16) and x.dim() >= 2
            and not target.is_floating_point() and not bound.get("label_smoothing")
            and bound.get("size_average") is None and bound.get("reduce") is None):
        return None
    logp = torch.ops.aten._log_softmax(x, 1, True)
    return F.nll_loss(logp, target, weight=bound.get("weight"), ignore_index=bound.get("ignore_index", -100),
                      reduction=bound.get("reduction", "mean"))


def autocast_emulation(dtype: torch.dtype | str = torch.bfloat16, lists: Mapping[str, str] | None = None,
                       cache: bool = True) -> Callable[[], AbstractContextManager[Any]]:
    """A factory for ``trace_model(contexts=...)``: each call makes a fresh emulation context."""
    if isinstance(dtype, str):
        dtype = getattr(torch, dtype)

    def factory() -> AbstractContextManager[Any]:
        return AutocastEmulation(dtype, lists, cache)  # type: ignore[arg-type]

    return factory
