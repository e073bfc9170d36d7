"""QLoRA's frozen base: the linear layers stored in 4 bits, as bitsandbytes' ``Linear4bit`` holds them.

``transformers`` with ``BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4" | "fp4",
bnb_4bit_use_double_quant=..., bnb_4bit_compute_dtype=...)`` makes every linear layer of the model a
``bnb.nn.Linear4bit`` except the output head (``get_keys_to_not_convert``: the module
``get_output_embeddings()`` returns, the module of the model's last parameter, weights tied to another
module; here ``lm_head`` too). :func:`quantize_base`
does the same with :class:`Linear4bit`, a stand-in that

* keeps the logical weight ``[out, in]`` (frozen, its dtype, so parameter counts stay exact) and marks it
  with the bytes of its packed storage (:data:`~netcensus.analyses.memory.params.STORED_NBYTES`), computed
  by :func:`netcensus.analyses.quantization.matrix_bytes` for the format: the memory analysis charges those
  bytes, not ``numel * itemsize``; a ``Conv1D`` weight (``in x out``) becomes ``[out, in]``, as
  transformers transposes it when it quantises one; biases keep their dtype;
* computes as ``Linear4bit.forward`` and ``bnb.matmul_4bit`` do: the input is cast to the compute dtype, the
  bias too; for more than one token, or an input that needs a gradient, ``MatMul4Bit`` dequantises the
  weight to a temporary ``[out, in]`` tensor in the dtype the weight was quantised from
  (``quant_state.dtype``: the traced weight's dtype), cast to the compute dtype where that differs, runs
  ``F.linear`` and frees it; it keeps only the packed weight for backward (on ``ctx``, not
  ``save_for_backward``: not the input, not the dequantised weight), and its backward dequantises again
  for ``grad_input = grad_out @ W`` only: no weight gradient. With double quantisation (``-dq``) the
  float32 absmax (one per 64 weights) is dequantised first, a temporary beside the weight's. One token
  without gradient (decoding) takes ``gemv_4bit`` when ``in`` is a multiple of 64: no ``[out, in]``
  temporary.

The compute dtype is ``compute=`` when given (``bnb_4bit_compute_dtype``), else the weight's own dtype when
it is float16 or bfloat16, else bfloat16 (QLoRA's usual ``bnb_4bit_compute_dtype=torch.bfloat16``).
Not modelled: bitsandbytes' one-time cast of the bias to the input's dtype, and peft's
``prepare_model_for_kbit_training`` (it casts the kept 16-bit parameters to float32 and turns on gradient
checkpointing; ``checkpointing="all"`` models the latter).
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..analyses.memory.params import STORED_FORMAT, STORED_NBYTES
from ..analyses.quantization import FORMATS, matrix_bytes, parse_format
from ..dtypes import ALIASES
from ..errors import SpecError

BASE_FORMATS = ("nf4", "fp4", "nf4-dq", "fp4-dq")
"""The 4-bit bases (bitsandbytes ``quantize_4bit``, block 64; ``-dq``: ``bnb_4bit_use_double_quant``)."""
_BLOCK = 64


def base_format(text: str) -> str:
    """``"nf4"``, ``"fp4"``, ``"nf4-dq"`` (or ``nf4+dq``), ``"fp4-dq"`` -> that name; anything else is a
    :class:`SpecError` naming the accepted formats."""
    fix = "use base=" + ", base=".join(BASE_FORMATS) + " (-dq: double quantisation)"
    try:
        name = parse_format(text).name
    except SpecError:
        name = ""
    if name == "int8":
        raise SpecError("base=int8 (bitsandbytes LLM.int8 LoRA) is not modelled: MatMul8bitLt quantises "
                        "each input row to int8 and keeps the columns with an outlier above 6.0 in 16 bits, "
                        "a split that depends on the values, which a meta trace does not have",
                        where="--lora", fix=fix)
    if name not in BASE_FORMATS:
        raise SpecError(f"base={text} is not a 4-bit base format", where="--lora", fix=fix)
    return name


def compute_dtype(text: str) -> str:
    """``bf16`` / ``fp16`` / ``fp32`` (or the torch names) -> the torch dtype name."""
    found = ALIASES.get(text.strip().lower().removeprefix("torch."))
    if found not in ("bfloat16", "float16", "float32"):
        raise SpecError(f"compute={text} is not a compute dtype", where="--lora",
                        fix="use compute=bf16, compute=fp16 or compute=fp32")
    return found


def _dequantize(weight: torch.Tensor, blocks: int, dtype: torch.dtype) -> torch.Tensor:
    """``F.dequantize_4bit(packed, quant_state).to(dtype)``: the ``[out, in]`` weights written into a new
    tensor of the dtype they were quantised from (the copy stands for the 4-bit kernel), after the absmax
    (double quantisation: ``blocks`` float32) were dequantised; cast where the compute dtype differs."""
    absmax = torch.empty(blocks, dtype=torch.float32, device=weight.device) if blocks else None
    out = torch.empty(weight.shape, dtype=weight.dtype, device=weight.device)
    out.copy_(weight)
    del absmax
    return out.to(dtype)


class MatMul4Bit(torch.autograd.Function):
    """bitsandbytes' ``MatMul4Bit`` (see the module docstring): dequantise, ``F.linear``, keep the packed
    weight only; backward: the input gradient, through a second dequantisation."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,  # type: ignore[override]
                blocks: int) -> torch.Tensor:
        out = F.linear(x, _dequantize(weight, blocks, x.dtype), bias)
        ctx.packed, ctx.blocks = weight, blocks  # on ctx, as bnb keeps it: nothing through save_for_backward
        ctx.bias_dtype = None if bias is None else bias.dtype
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple:  # type: ignore[override]
        grad_x = grad_bias = None
        if ctx.needs_input_grad[2]:
            grad_bias = grad.reshape(-1, grad.shape[-1]).sum(0, dtype=ctx.bias_dtype)
        if ctx.needs_input_grad[0]:
            grad_x = torch.matmul(grad, _dequantize(ctx.packed, ctx.blocks, grad.dtype))
        return grad_x, None, grad_bias, None


class Linear4bit(nn.Module):
    """A frozen linear layer stored in a 4-bit format (see the module docstring)."""

    def __init__(self, weight: nn.Parameter, bias: nn.Parameter | None, quant_type: str,
                 compute: str | None = None):
        super().__init__()
        self.out_features, self.in_features = weight.shape
        self.weight = weight
        self.bias = bias
        self.quant_type = quant_type
        self.compute_dtype = getattr(torch, compute) if compute else None
        self.stored_nbytes = matrix_bytes(FORMATS[quant_type], *weight.shape)[0]
        setattr(weight, STORED_NBYTES, self.stored_nbytes)
        setattr(weight, STORED_FORMAT, quant_type)
        self.blocks = math.ceil(weight.numel() / _BLOCK) if quant_type.endswith("-dq") else 0

    def compute_for(self, dtype: torch.dtype) -> torch.dtype:
        """The compute dtype for weights of ``dtype`` (see the module docstring)."""
        if self.compute_dtype is not None:
            return self.compute_dtype
        return dtype if dtype in (torch.float16, torch.bfloat16) else torch.bfloat16

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight = self.weight
        inp_dtype = x.dtype
        x = x.to(self.compute_for(weight.dtype))
        bias = None if self.bias is None else self.bias.to(x.dtype)
        if x.numel() == x.shape[-1] and not x.requires_grad and self.in_features % _BLOCK == 0:
            out = F.linear(x.to(weight.dtype), weight).to(x.dtype)  # gemv_4bit: from the packed weight
            if bias is not None:
                out += bias
        else:
            out = MatMul4Bit.apply(x, weight, bias, self.blocks)
        return out.to(inp_dtype)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}, quant_type={self.quant_type}")


@dataclass(frozen=True)
class QuantizedBase:
    """What :func:`quantize_base` did: the stand-ins by module name, and notes for the report."""

    layers: dict[str, Linear4bit]
    notes: tuple[str, ...]


def _kept(model: nn.Module, linear: list[tuple[str, nn.Module]]) -> set[str]:
    """Names of the linear layers transformers keeps unquantised: the output head (the output embeddings,
    the module of the last parameter, ``lm_head``), tied weights, and ``nn.MultiheadAttention``'s
    ``out_proj`` (read as a tensor by its parent, never called)."""
    output = getattr(model, "get_output_embeddings", None)
    head = output() if callable(output) else None
    names = [name for name, _ in model.named_parameters()]
    last = names[-1].rpartition(".")[0] if names else None
    uses = Counter(id(p) for _, p in model.named_parameters(remove_duplicate=False))
    attention = {name for name, m in model.named_modules() if isinstance(m, nn.MultiheadAttention)}
    return {name for name, m in linear
            if m is head or name == last or name.rsplit(".", 1)[-1] == "lm_head" or uses[id(m.weight)] > 1
            or name.rpartition(".")[0] in attention}


def _stand_in(module: nn.Module, quant_type: str, compute: str | None) -> Linear4bit:
    weight, bias = module.weight, module.bias
    assert isinstance(weight, nn.Parameter) and (bias is None or isinstance(bias, nn.Parameter))
    if not isinstance(module, nn.Linear):  # transformers' Conv1D: in x out, forward addmm(bias, x, weight)
        weight = nn.Parameter(weight.detach().t().contiguous(), requires_grad=False)
    return Linear4bit(weight, bias, quant_type, compute)


def quantize_base(model: nn.Module, linear: list[tuple[str, nn.Module]], quant_type: str,
                  compute: str | None = None) -> QuantizedBase:
    """Replace in ``model`` each of the ``linear`` layers (name, module) but the kept ones by a
    :class:`Linear4bit` of ``quant_type`` (one of :data:`BASE_FORMATS`)."""
    kept = _kept(model, linear)
    layers: dict[str, Linear4bit] = {}
    for name, module in linear:
        if name in kept:
            continue
        parent_name, _, local = name.rpartition(".")
        layers[name] = _stand_in(module, quant_type, compute)
        setattr(model.get_submodule(parent_name), local, layers[name])
    return QuantizedBase(layers, _notes(layers, quant_type, sorted(kept)))


def _notes(layers: dict[str, Linear4bit], quant_type: str, kept: list[str]) -> tuple[str, ...]:
    if not layers:
        return (f"QLoRA base {quant_type}: no linear layer to quantise (kept: {', '.join(kept) or 'none'})",)
    stored = sum(m.stored_nbytes for m in layers.values())
    weights = sum(m.weight.numel() for m in layers.values())
    sixteen = sum(matrix_bytes(FORMATS["bf16"], *m.weight.shape)[0] for m in layers.values())
    dtypes = sorted({str(m.compute_for(m.weight.dtype)).removeprefix("torch.") for m in layers.values()})
    shown = ", ".join(kept[:4]) + (f" and {len(kept) - 4} more" if len(kept) > 4 else "")
    absmax = " (and the float32 absmax, dequantised first)" if quant_type.endswith("-dq") else ""
    return (
        f"QLoRA base {quant_type} (bitsandbytes Linear4bit, {FORMATS[quant_type].layout}): {len(layers)} "
        f"linear layers, {weights:,} weights stored in {stored:,} bytes ({8 * stored / weights:.3f} bits per "
        f"weight) against {sixteen:,} bytes in 16 bits; kept in their dtype: biases, embeddings, norms"
        + (f", {shown}" if kept else ""),
        f"QLoRA compute dtype {'/'.join(dtypes)}: each 4-bit layer dequantises its weight to an [out, in] "
        f"temporary{absmax} in its forward and again in its backward (input gradient only, no weight "
        "gradient; only the packed weight is kept for backward): these temporaries are traced",
    )
