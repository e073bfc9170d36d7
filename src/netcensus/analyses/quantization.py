"""Weights stored in 8 or 4 bits or fp8 for serving: the bytes of each tensor by its format's layout.

A format quantises the weight matrices of the model's linear layers (``nn.Linear``, transformers'
``Conv1D``) and fused expert tensors (3-D parameters of an experts module, one ``[out, in]`` matrix per
expert); everything else (embeddings, norms, biases, routers' ... anything that is not such a matrix)
keeps its dtype, as bitsandbytes, GPTQ/AWQ and fp8 loaders in transformers do. The output projection
(``lm_head``, or the module ``get_output_embeddings()`` returns) is also kept, as transformers'
``get_keys_to_not_convert`` keeps it for bitsandbytes and GPTQ/AWQ checkpoints leave it in fp16;
``skip`` adds names. The layouts (``N = out * in`` weights of one matrix, ``T`` elements of a whole
tensor; sources in docs/sources.md and docs/memory.md):

``int8`` (bitsandbytes LLM.int8, ``Int8Params``)
    ``CB`` int8 ``[out, in]`` + ``SCB`` float32 ``[out]``: ``N + 4*out`` bytes.
``nf4`` / ``fp4`` (bitsandbytes ``quantize_4bit``, block size 64)
    two 4-bit codes per byte over the flattened tensor + one float32 absmax per 64-weight block:
    ``ceil(T/2) + 4*ceil(T/64)``.
``nf4-dq`` / ``fp4-dq`` (``bnb_4bit_use_double_quant``)
    the absmax are themselves quantised (``quantize_blockwise``, block 256): one uint8 per block, one
    float32 absmax per 256 blocks, and the float32 ``offset`` (their mean) subtracted first:
    ``ceil(T/2) + B + 4*ceil(B/256) + 4`` with ``B = ceil(T/64)``. (The 16-entry NF4 code and the
    256-entry dynamic map are shared by every tensor and not counted per tensor.)
``gptq[:g]`` (AutoGPTQ / GPTQModel ``QuantLinear``, 4 bits, group size ``g``, default 128)
    ``qweight`` int32 ``[ceil(in/8), out]``, ``qzeros`` int32 ``[G, ceil(out/8)]``, ``scales`` float16
    ``[G, out]``, ``g_idx`` int32 ``[in]``, ``G = ceil(in/g)``:
    ``4*ceil(in/8)*out + 4*G*ceil(out/8) + 2*G*out + 4*in``.
``awq[:g]`` (AutoAWQ ``WQLinear_GEMM``)
    ``qweight`` int32 ``[in, ceil(out/8)]``, ``qzeros`` int32 ``[G, ceil(out/8)]``, ``scales`` float16
    ``[G, out]``: ``4*in*ceil(out/8) + 4*G*ceil(out/8) + 2*G*out``.
``fp8`` (e4m3, one float32 scale per tensor), ``fp8-channel`` (one per output row), ``fp8-block``
    (one per 128x128 block, DeepSeek-V3's and transformers' ``FineGrainedFP8`` layout):
    ``N + 4``, ``N + 4*out``, ``N + 4*ceil(out/128)*ceil(in/128)`` per matrix.

The biases of quantised layers keep their dtype. Dequantisation buffers made during a matmul (a
4-bit layer dequantises its weight to the compute dtype) are not in these figures.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from torch import nn

from ..errors import SpecError
from ..results.serving import QuantizedWeights, QuantTensor


@dataclass(frozen=True)
class WeightFormat:
    """A weight format: its name, the bits a weight takes, and where its layout comes from."""

    name: str
    bits: int
    layout: str
    source: str
    group: int = 0
    """Group size (GPTQ/AWQ), 0 where the format has none."""

    @property
    def quantized(self) -> bool:
        return self.bits < 16 or self.name.startswith("fp8")

    @property
    def label(self) -> str:
        return f"{self.name}:{self.group}" if self.group else self.name


_BNB = "bitsandbytes (functional.quantize_4bit / Int8Params), transformers BitsAndBytesConfig"
FORMATS: dict[str, WeightFormat] = {f.name: f for f in (
    WeightFormat("fp32", 32, "4 bytes/weight", "IEEE 754 binary32"),
    WeightFormat("fp16", 16, "2 bytes/weight", "IEEE 754 binary16"),
    WeightFormat("bf16", 16, "2 bytes/weight", "bfloat16"),
    WeightFormat("int8", 8, "N + 4*out (int8 weights, fp32 scale per output row)", _BNB),
    WeightFormat("nf4", 4, "ceil(T/2) + 4*ceil(T/64) (4-bit codes, fp32 absmax per 64)", _BNB),
    WeightFormat("fp4", 4, "ceil(T/2) + 4*ceil(T/64) (4-bit codes, fp32 absmax per 64)", _BNB),
    WeightFormat("nf4-dq", 4, "ceil(T/2) + B + 4*ceil(B/256) + 4, B = ceil(T/64) (double quantisation)",
                 _BNB),
    WeightFormat("fp4-dq", 4, "ceil(T/2) + B + 4*ceil(B/256) + 4, B = ceil(T/64) (double quantisation)",
                 _BNB),
    WeightFormat("gptq", 4, "4*ceil(in/8)*out + 4*G*ceil(out/8) + 2*G*out + 4*in, G = ceil(in/g)",
                 "AutoGPTQ/GPTQModel QuantLinear (qweight, qzeros, scales, g_idx)", 128),
    WeightFormat("awq", 4, "4*in*ceil(out/8) + 4*G*ceil(out/8) + 2*G*out, G = ceil(in/g)",
                 "AutoAWQ WQLinear_GEMM (qweight, qzeros, scales)", 128),
    WeightFormat("fp8", 8, "N + 4 (e4m3 weights, one fp32 scale per tensor)",
                 "float8_e4m3fn with a per-tensor scale (vLLM / compressed-tensors)"),
    WeightFormat("fp8-channel", 8, "N + 4*out (e4m3, fp32 scale per output row)",
                 "float8_e4m3fn with per-channel scales (compressed-tensors)"),
    WeightFormat("fp8-block", 8, "N + 4*ceil(out/128)*ceil(in/128) (e4m3, fp32 scale per 128x128 block)",
                 "DeepSeek-V3 weight_scale_inv / transformers FineGrainedFP8Config"),
)}
_ALIASES = {"float32": "fp32", "float16": "fp16", "half": "fp16", "bfloat16": "bf16", "llm.int8": "int8",
            "nf4+dq": "nf4-dq", "fp4+dq": "fp4-dq", "fp8-e4m3": "fp8", "e4m3": "fp8", "int4": "gptq"}
KV_DTYPES = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16", "fp8": "float8_e4m3fn",
             "int8": "int8", "float32": "float32", "float16": "float16", "bfloat16": "bfloat16",
             "float8_e4m3fn": "float8_e4m3fn"}
"""KV cache dtypes: name -> the dtype whose bytes an element takes (an int8 or fp8 cache with one scale
per layer: the scales are a few bytes and are not counted)."""


def parse_format(spec: str | WeightFormat) -> WeightFormat:
    """``"nf4"``, ``"gptq:64"`` (group size 64), ``"awq"``, ``"fp8-block"``... -> a :class:`WeightFormat`."""
    if isinstance(spec, WeightFormat):
        return spec
    text = str(spec).strip().lower()
    name, _, group = text.partition(":")
    name = _ALIASES.get(name, name)
    fmt = FORMATS.get(name)
    if fmt is None:
        raise SpecError(f"unknown weight format {spec!r}", where="weights",
                        fix="use one of " + ", ".join(FORMATS) + " (gptq and awq take :GROUP, e.g. gptq:64)")
    if group:
        if not fmt.group:
            raise SpecError(f"weight format {fmt.name!r} takes no group size", where="weights",
                            fix=f"write {fmt.name!r} alone")
        try:
            size = int(group)
        except ValueError:
            size = 0
        if size <= 0:
            raise SpecError(f"bad group size {group!r} in {spec!r}", where="weights",
                            fix="a positive integer, e.g. gptq:128")
        fmt = WeightFormat(fmt.name, fmt.bits, fmt.layout, fmt.source, size)
    return fmt


def kv_dtype(spec: str | None) -> str | None:
    """A KV cache dtype name (``"fp16"``, ``"bf16"``, ``"fp8"``, ``"int8"``) -> the trace dtype name."""
    if spec is None:
        return None
    found = KV_DTYPES.get(str(spec).strip().lower())
    if found is None:
        raise SpecError(f"unknown KV cache dtype {spec!r}", where="kv_dtype",
                        fix="use fp16, bf16, fp8, int8 or fp32")
    return found


def _ceil(a: int, b: int) -> int:
    return -(-a // b)


def matrix_bytes(fmt: WeightFormat, out: int, inp: int, count: int = 1) -> tuple[int, str]:
    """Bytes of ``count`` ``[out, in]`` matrices in ``fmt`` (the 4-bit bitsandbytes formats quantise the
    flattened tensor of all of them), with the arithmetic."""
    n = out * inp
    t = n * count
    times = f"{count} * " if count > 1 else ""
    name = fmt.name
    if name == "int8":
        each = n + 4 * out
        return count * each, f"{times}(N + 4*out) = {times}({n:,} + 4*{out:,}) = {count * each:,}"
    if name in ("nf4", "fp4"):
        b = _ceil(t, 64)
        total = _ceil(t, 2) + 4 * b
        return total, f"ceil(T/2) + 4*ceil(T/64) = {_ceil(t, 2):,} + 4*{b:,} = {total:,} (T = {t:,})"
    if name in ("nf4-dq", "fp4-dq"):
        b = _ceil(t, 64)
        total = _ceil(t, 2) + b + 4 * _ceil(b, 256) + 4
        return total, (f"ceil(T/2) + B + 4*ceil(B/256) + 4 = {_ceil(t, 2):,} + {b:,} + "
                       f"4*{_ceil(b, 256):,} + 4"
                       f" = {total:,} (T = {t:,}, B = ceil(T/64))")
    if name in ("gptq", "awq"):
        g = fmt.group
        groups = _ceil(inp, g)
        if name == "gptq":
            each = 4 * _ceil(inp, 8) * out + 4 * groups * _ceil(out, 8) + 2 * groups * out + 4 * inp
            text = (f"4*ceil(in/8)*out + 4*G*ceil(out/8) + 2*G*out + 4*in = 4*{_ceil(inp, 8):,}*{out:,} + "
                    f"4*{groups:,}*{_ceil(out, 8):,} + 2*{groups:,}*{out:,} + 4*{inp:,}")
        else:
            each = 4 * inp * _ceil(out, 8) + 4 * groups * _ceil(out, 8) + 2 * groups * out
            text = (f"4*in*ceil(out/8) + 4*G*ceil(out/8) + 2*G*out = 4*{inp:,}*{_ceil(out, 8):,} + "
                    f"4*{groups:,}*{_ceil(out, 8):,} + 2*{groups:,}*{out:,}")
        return count * each, f"{times}({text}) = {count * each:,} (G = ceil({inp:,}/{g}))"
    if name == "fp8":
        each = n + 4
        return count * each, f"{times}(N + 4) = {times}({n:,} + 4) = {count * each:,}"
    if name == "fp8-channel":
        each = n + 4 * out
        return count * each, f"{times}(N + 4*out) = {times}({n:,} + 4*{out:,}) = {count * each:,}"
    if name == "fp8-block":
        blocks = _ceil(out, 128) * _ceil(inp, 128)
        each = n + 4 * blocks
        return count * each, (f"{times}(N + 4*ceil(out/128)*ceil(in/128)) = {times}({n:,} + 4*{blocks:,}) = "
                              f"{count * each:,}")
    size = fmt.bits // 8
    return t * size, f"{t:,} * {size} = {t * size:,}"


_LINEAR_TYPES = ("Linear", "Conv1D", "NonDynamicallyQuantizableLinear")


def _quantizable(model: nn.Module, skip: Iterable[str]) -> dict[int, tuple[str, int, int, int]]:
    """id(parameter) -> (name, matrices, out, in) for the weight matrices a format quantises."""
    skipped = set(skip)
    output = getattr(model, "get_output_embeddings", None)
    out_module = output() if callable(output) else None
    found: dict[int, tuple[str, int, int, int]] = {}
    for path, module in model.named_modules():
        last = path.rsplit(".", 1)[-1]
        if module is out_module or path in skipped or last in skipped:
            continue
        kind = type(module).__name__
        w = getattr(module, "weight", None)
        if kind in _LINEAR_TYPES and isinstance(w, nn.Parameter) and w.dim() == 2:
            out, inp = (w.shape[1], w.shape[0]) if kind == "Conv1D" else (w.shape[0], w.shape[1])
            found.setdefault(id(w), (f"{path}.weight", 1, out, inp))
        elif "expert" in kind.lower() or "expert" in last.lower():
            for name, p in module.named_parameters(recurse=False):
                if p.dim() == 3 and not name.endswith("bias"):
                    found.setdefault(id(p), (f"{path}.{name}", p.shape[0], p.shape[1], p.shape[2]))
    return found


def quantize(model: nn.Module, weights: str | WeightFormat = "fp16", *, dtype: str | None = None,
             skip: Sequence[str] = ("lm_head",)) -> QuantizedWeights:
    """The bytes of ``model``'s parameters with its weight matrices stored in ``weights`` and every other
    parameter in ``dtype`` (default: its own dtype). Tied parameters are counted once; a parameter tied
    to the output embedding stays unquantised."""
    fmt = parse_format(weights)
    plain = fmt if not fmt.quantized else None
    keep_size = None if plain is None else plain.bits // 8
    sizes = {"fp32": 4, "fp16": 2, "bf16": 2, "float32": 4, "float16": 2, "bfloat16": 2}
    other_size = sizes.get(dtype or "", 0)
    if dtype is not None and not other_size:
        raise SpecError(f"unknown dtype {dtype!r} for the unquantised parameters", where="dtype",
                        fix="use fp32, fp16 or bf16")
    targets = _quantizable(model, skip) if plain is None else {}
    tensors: list[QuantTensor] = []
    seen: set[int] = set()
    total = quantized = original = 0
    for name, p in model.named_parameters():
        if id(p) in seen:
            continue
        seen.add(id(p))
        size = keep_size or other_size or p.element_size()
        own = p.numel() * p.element_size()
        original += own
        entry = targets.get(id(p))
        if entry is None:
            nbytes = p.numel() * size
            tensors.append(QuantTensor(name, tuple(p.shape), f"{_size_name(size)} (kept)" if plain is None
                                       else _size_name(size), nbytes, f"{p.numel():,} * {size} = {nbytes:,}",
                                       False))
        else:
            _, count, out, inp = entry
            nbytes, text = matrix_bytes(fmt, out, inp, count)
            quantized += nbytes
            tensors.append(QuantTensor(name, tuple(p.shape), fmt.label, nbytes, text, True))
        total += nbytes
    return QuantizedWeights(fmt.label, fmt.layout, fmt.source, total, quantized, total - quantized, original,
                            tuple(tensors))


def _size_name(size: int) -> str:
    return {1: "int8", 2: "16-bit", 4: "fp32", 8: "fp64"}.get(size, f"{size} bytes")


def bits_per_weight(q: QuantizedWeights) -> float:
    """Average bits per quantised weight (0.0 with nothing quantised)."""
    weights = sum(math.prod(t.shape) for t in q.tensors if t.quantized)
    return 8 * q.quantized_bytes / weights if weights else 0.0
