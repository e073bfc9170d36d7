"""FlexAttention (``torch.nn.attention.flex_attention``) traced as its fused kernel.

``flex_attention`` refuses meta tensors (a device check in Python), and without ``torch.compile`` runs a
reference that materialises every score (and refuses backward on CPU); on CUDA it runs one generated
kernel that keeps no scores and skips the blocks its ``BlockMask`` leaves out. Within
:func:`flex_in_trace` (entered for every trace), a call on meta tensors gets past the device check, and
where torch would call its ``flex_attention`` operator, :func:`flex_attention_region` is called: a
watched function (one region, ``"flex_attention"``, forward and backward) whose ops allocate what the
CUDA kernels allocate:

* forward: the output ``[B, H_q, L, E_v]`` in the query's dtype and dimension order, and the
  log-sum-exp and row maxima ``[B, H_q, L]`` in float32; the query, key, value, output and
  log-sum-exp are saved for backward;
* backward: the row sums of ``dO * O`` ``[B, H_q, L]`` float32 (freed after), and the three gradients,
  the key's and value's at the key/value heads' shape (grouped-query attention reduces in the kernel),
  and the gradients of tensors ``score_mod`` captures that require grad (T5's position bias).

On a real device (``device="cpu"``) the outputs are filled by torch's own operator, run unrecorded.

The region formula (:mod:`netcensus.ops.attention`) counts the products of all ``L x L_kv`` query/key
pairs (the dense figure) and, beside it as the mask-aware figure, those of the pairs the mask keeps:
the mask function is evaluated on CPU (once per trace and mask), in chunks, on every query row up to
:data:`MASK_EVAL_LIMIT` elements and on a sample of rows beyond. Where it cannot be (a mask that reads
tensors with no values, such as a padding mask given on meta) the mask-aware figure is the dense one
and the formula says why. ``score_mod``'s own arithmetic is counted per score
(:func:`score_mod_flops`); one that cannot run on CPU scalars is not, and a note says so. Under
autocast the query, key and value are cast first, as torch's operator does
(:mod:`netcensus.trace.contexts.autocast`).

Everything is put back on exit.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any

import torch
from torch.overrides import handle_torch_function, has_torch_function
from torch.utils._python_dispatch import TorchDispatchMode, _disable_current_modes

from ..events import BACKWARD, FORWARD, OpEvent, TensorMeta
from ..ops import UNSUPPORTED, evaluate
from ..ops.attention import flex_attention_backward_op, flex_attention_op
from .common import RECOMPUTING, note

MASK_EVAL_LIMIT = 1 << 26
"""Most mask elements (batch x heads x queries x keys of the mask's own shape) evaluated on CPU to count
the pairs a mask keeps (about 67 M, a second at most on one core). A larger mask is evaluated on every
k-th query row (the middle row of each group of k) and the count scaled: an estimate, said so in the
formula (for a causal or sliding-window mask it is within 0.01% of the exact count)."""
_CHUNK = 1 << 22

FLEX_NOTE = ("flex_attention: counted as its fused CUDA kernel (the block mask's kept pairs in the "
             "mask-aware figures; no score matrix kept; forward saves the log-sum-exp)")
SCORE_MOD_NOTE = ("flex_attention: score_mod's own arithmetic per score is not counted (it cannot run on CPU "
                  "scalars: it reads a tensor given on meta, or uses an op without a formula)")


@dataclass(frozen=True)
class MaskCount:
    """The (query, key) pairs a flex_attention mask keeps, summed over batch and query heads."""

    pairs: int | None
    """None: not known (the formula then counts every pair)."""
    text: str


def flex_attention_region(*, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, scale: float,
                          pairs: int | None, mask: str, score_mod_forward: int = 0,
                          score_mod_backward: int = 0, captured: tuple[torch.Tensor, ...] = (),
                          compute: Callable[[], Any] | None = None,
                          ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One flex_attention call as its fused kernel: ``(out, logsumexp, max_scores)``. ``pairs``,
    ``mask``: what :func:`mask_pairs` found, ``score_mod_forward`` / ``_backward``: what
    :func:`score_mod_flops` found (for the region formula). ``captured``: tensors
    ``score_mod`` reads that require grad (a learned position bias): the backward kernel writes their
    gradients too. ``compute``: on a real device, torch's own operator, run unrecorded to fill the
    outputs with their values."""
    if has_torch_function((query, key, value, *captured)):
        return handle_torch_function(flex_attention_region, (query, key, value, *captured), query=query,
                                     key=key, value=value, scale=scale, pairs=pairs, mask=mask,
                                     score_mod_forward=score_mod_forward,
                                     score_mod_backward=score_mod_backward, captured=captured,
                                     compute=compute)
    return _FlexKernel.apply(query, key, value, pairs, mask, (score_mod_forward, score_mod_backward), compute,
                             *captured)


def captured_tensors(fn: Any, depth: int = 3) -> list[torch.Tensor]:
    """The tensors a function closes over (its closure cells, a ``functools.partial``'s arguments, and
    the same of functions among them, ``depth`` levels down)."""
    found: list[torch.Tensor] = []
    seen: set[int] = set()

    def walk(value: Any, level: int) -> None:
        if isinstance(value, torch.Tensor):
            if id(value) not in seen:
                seen.add(id(value))
                found.append(value)
            return
        if level >= depth or not callable(value):
            return
        inner: list[Any] = []
        for cell in getattr(value, "__closure__", None) or ():
            try:
                inner.append(cell.cell_contents)
            except ValueError:  # an empty cell
                continue
        inner.extend(getattr(value, "args", ()) if hasattr(value, "func") else ())
        inner.extend((getattr(value, "keywords", None) or {}).values() if hasattr(value, "func") else ())
        for v in inner:
            walk(v, level + 1)

    walk(fn, 0)
    return found


class _FlexKernel(torch.autograd.Function):
    """The fused kernels as autograd sees them: :data:`~netcensus.ops.attention.flex_attention_op`
    forward, its backward op in backward (with the row-sum buffer the backward kernel reads)."""

    @staticmethod
    def forward(ctx: Any, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, pairs: int | None,
                mask: str, score_mod: tuple[int, int], compute: Callable[[], Any] | None,
                *captured: torch.Tensor) -> Any:
        out, lse, max_scores = flex_attention_op(query, key, value, pairs, mask, score_mod[0])
        if compute is not None:
            with _outside_trace():
                for mine, theirs in zip((out, lse, max_scores), compute(), strict=True):
                    mine.copy_(theirs)
        ctx.save_for_backward(query, key, value, out, lse, *captured)
        ctx.pairs, ctx.mask, ctx.score_mod = pairs, mask, score_mod[1]
        ctx.mark_non_differentiable(max_scores)
        return out, lse, max_scores

    @staticmethod
    def backward(ctx: Any, grad_out: torch.Tensor, grad_lse: Any, grad_max: Any) -> Any:
        query, key, value, out, lse, *captured = ctx.saved_tensors
        delta = lse.new_empty(lse.shape)  # rowsum(dO * O), read by the backward kernel
        grads = flex_attention_backward_op(grad_out, query, key, value, out, lse, ctx.pairs, ctx.mask,
                                           ctx.score_mod, list(captured))
        del delta
        return (*grads[:3], None, None, None, None, *grads[3:])


# ---- the mask ----------------------------------------------------------------------------------------

@contextmanager
def _outside_trace() -> Iterator[None]:
    """No dispatch or torch-function mode of the trace, no grad: plain CPU tensors. The function modes
    are popped rather than switched off (``NO_TORCH_FUNCTION``, as values.py does): torch's
    ``create_mask`` pushes a mode of its own that must work."""
    with ExitStack() as stack:
        stack.enter_context(_disable_current_modes())
        modes = []
        while torch._C._len_torch_function_stack() > 0:
            modes.append(torch._C._pop_torch_function_stack())

        def restore() -> None:
            for mode in reversed(modes):
                torch._C._push_on_torch_function_stack(mode)

        stack.callback(restore)
        stack.enter_context(torch.no_grad())
        yield


def mask_pairs(mask_mod: Callable[..., Any] | None, mask_b: int, mask_h: int, batch: int, heads: int,
               lq: int, lkv: int, cache: dict[Any, MaskCount]) -> MaskCount:
    """The pairs ``mask_mod`` keeps over ``batch`` x ``heads`` (the mask's own ``mask_b`` x ``mask_h``
    broadcast), evaluated on CPU; cached in ``cache`` by mask function and shape."""
    from torch.nn.attention import flex_attention as flex

    dense = batch * heads * lq * lkv
    if mask_mod is None or mask_mod is flex.noop_mask:
        return MaskCount(dense, "no mask: every pair")
    key = (mask_mod, mask_b, mask_h, lq, lkv)
    if key in cache:
        found = cache[key]
    else:
        found = cache[key] = _evaluate(mask_mod, mask_b, mask_h, lq, lkv)
    if found.pairs is None:
        return found
    repeat = (batch // mask_b if mask_b else 1) * (heads // mask_h if mask_h else 1)
    return MaskCount(found.pairs * repeat, found.text)


def _evaluate(mask_mod: Callable[..., Any], mask_b: int, mask_h: int, lq: int, lkv: int) -> MaskCount:
    from torch.nn.attention import flex_attention as flex

    elements = mask_b * mask_h * lq * lkv
    stride = max(1, -(-elements // MASK_EVAL_LIMIT))
    rows = [min(i + stride // 2, lq - 1) for i in range(0, lq, stride)]  # (every row, or a midpoint sample)
    chunk = max(1, min(len(rows), _CHUNK // max(1, mask_b * mask_h * lkv)))
    kept = 0
    try:
        with _outside_trace():
            for first in range(0, len(rows), chunk):
                picked = torch.tensor(rows[first:first + chunk])

                def sampled(b: Any, h: Any, q: Any, kv: Any, picked: torch.Tensor = picked) -> Any:
                    return mask_mod(b, h, picked[q], kv)

                part = flex.create_mask(sampled, mask_b, mask_h, len(picked), lkv, device="cpu")
                if part.device.type != "cpu":
                    raise RuntimeError(f"the mask came out on {part.device}")
                kept += int(part.sum())
    except Exception as e:  # noqa: BLE001 - any failure of the user's mask function means "unknown"
        reason = str(e).splitlines()[0][:120] if str(e) else type(e).__name__
        return MaskCount(None, f"mask function not evaluable on CPU ({type(e).__name__}: {reason}; "
                               "e.g. it reads a tensor given on meta): every pair counted")
    if stride > 1:  # the sampled rows' count, scaled by all rows / sampled rows
        kept = round(kept * lq / len(rows))
        how = (f"estimated from {len(rows):,} of {lq:,} query rows, 1 in {stride} (the mask is over "
               f"{MASK_EVAL_LIMIT:,} elements)")
    else:
        how = "evaluated on CPU"
    share = kept / elements if elements else 1.0
    return MaskCount(kept, f"mask keeps {kept:,} of {elements:,} pairs per mask ({share:.1%}), {how}")


# ---- score_mod ---------------------------------------------------------------------------------------

class _Collect(TorchDispatchMode):
    """Records the aten ops below it, and whether each ran in backward."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[Any, tuple[Any, ...], dict[str, Any], Any, bool]] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[override]
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        self.calls.append((func, args, kwargs, out, torch._C._current_autograd_node() is not None))
        return out


def _scalar_meta(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        dtype = str(value.dtype).removeprefix("torch.")
        size = value.element_size() * value.numel()
        return TensorMeta(tuple(value.shape), dtype, 0, size, size, value.requires_grad)
    if isinstance(value, (list, tuple)):
        return tuple(_scalar_meta(v) for v in value)
    return value


def score_mod_flops(score_mod: Any) -> tuple[int, int] | None:
    """FLOPs per score of ``score_mod`` in forward and in backward (the gradient of the score): its
    aten ops run once on CPU scalars (a score, and index 0 for batch, head, query and key), each
    counted by netcensus's own formula for one element. ``(0, 0)`` for one that returns the score it
    is given (torch's default; transformers' without softcap, bias or float mask); None when it cannot
    run on CPU scalars (it reads a tensor given on meta) or uses an op without a formula."""
    if score_mod is None:
        return 0, 0
    collect = _Collect()
    try:
        with _outside_trace():
            score = torch.zeros((), requires_grad=True)
            index = torch.zeros((), dtype=torch.int64)
            with torch.enable_grad(), collect:
                out = score_mod(score, index, index, index, index)
                if out is score:
                    return 0, 0
                if isinstance(out, torch.Tensor) and out.requires_grad:
                    out.backward()
    except Exception:  # noqa: BLE001 - it needs something it cannot have here
        return None
    totals = [0, 0]
    for func, args, kwargs, out, backward in collect.calls:
        event = OpEvent(0, str(func), "", BACKWARD if backward else FORWARD, _scalar_meta(args),
                        {k: _scalar_meta(v) for k, v in kwargs.items()},
                        tuple(t for t in _scalar_meta(out if isinstance(out, (list, tuple)) else (out,))
                              if isinstance(t, TensorMeta)),
                        tuple(t.name for t in getattr(func, "tags", ())))
        found = evaluate(event)
        if found.status == UNSUPPORTED:
            return None
        totals[backward] += found.cost.flops if found.cost is not None else 0
    return totals[0], totals[1]


# ---- the context ---------------------------------------------------------------------------------------

@contextmanager
def flex_in_trace() -> Iterator[None]:
    """See the module docstring. A no-op where this torch has no FlexAttention."""
    try:
        from torch.nn.attention import flex_attention as flex
    except ImportError:
        yield
        return
    validate = getattr(flex, "_validate_device", None)
    hop = getattr(flex, "flex_attention_hop", None)
    if validate is None or hop is None:
        yield
        return
    cache: dict[Any, MaskCount] = {}

    def validate_device(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor) -> None:
        if query.device.type != "meta":
            validate(query, key, value)

    def operator(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, score_mod: Any,
                 block_mask: tuple[Any, ...], scale: float, kernel_options: Any, *args: Any,
                 **kwargs: Any) -> Any:
        def compute() -> Any:
            return hop(query, key, value, score_mod, block_mask, scale, kernel_options, *args, **kwargs)

        note(FLEX_NOTE)
        per_score = score_mod_flops(score_mod)
        if per_score is None:
            note(SCORE_MOD_NOTE)
            per_score = (0, 0)
        kv_num_blocks, mask_mod = block_mask[2], block_mask[-1]
        mask_b, mask_h = int(kv_num_blocks.shape[0]), int(kv_num_blocks.shape[1])
        batch, heads, lq = (int(d) for d in query.shape[:3])
        found = mask_pairs(mask_mod, mask_b, mask_h, batch, heads, lq, int(key.shape[-2]), cache)
        learned = tuple(t for t in captured_tensors(score_mod) if t.requires_grad) \
            if torch.is_grad_enabled() else ()
        if scale is None:
            scale = 1 / math.sqrt(query.shape[-1])
        token = RECOMPUTING.set(torch._C._current_autograd_node() is not None)  # (checkpointed: again)
        try:
            return flex_attention_region(query=query, key=key, value=value, captured=learned,
                                         scale=float(scale), pairs=found.pairs, mask=found.text,
                                         score_mod_forward=per_score[0], score_mod_backward=per_score[1],
                                         compute=None if query.device.type == "meta" else compute)
        finally:
            RECOMPUTING.reset(token)

    debug = getattr(flex, "_FLEX_ATTENTION_DISABLE_COMPILE_DEBUG", None)
    flex._validate_device = validate_device  # type: ignore[attr-defined]
    flex.flex_attention_hop = operator  # type: ignore[attr-defined, assignment]
    if debug is not None:  # torch's eager path calls the operator directly: no compile, no warning
        flex._FLEX_ATTENTION_DISABLE_COMPILE_DEBUG = True  # type: ignore[attr-defined]
    try:
        yield
    finally:
        flex._validate_device = validate  # type: ignore[attr-defined]
        flex.flex_attention_hop = hop  # type: ignore[attr-defined]
        if debug is not None:
            flex._FLEX_ATTENTION_DISABLE_COMPILE_DEBUG = debug  # type: ignore[attr-defined]
