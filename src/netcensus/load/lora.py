"""LoRA adapters added to any model, without the peft package, as peft adds them.

:func:`add_lora` replaces each linear layer whose name matches a target by a :class:`LoraLinear`
holding the layer (``base_layer``, frozen) and two adapters, ``lora_A`` (``r x in``) and ``lora_B``
(``out x r``), and freezes every other parameter of the model, as ``peft.get_peft_model`` does with a
``LoraConfig(r, lora_alpha, target_modules, lora_dropout, bias="none")``. The forward is peft's::

    result = base_layer(x)
    result = result + lora_B(lora_A(dropout(x.to(adapter dtype)))) * (alpha / r)
    result.to(base dtype)

So a traced step holds what a peft step holds: the frozen base's forward and its input gradient (no
weight gradient), the adapters' compute, weight gradients and optimizer state for the adapters only.

Target names match as in peft: a module matches a target when its name is the target or ends with
``.target`` (``q_proj`` matches ``model.layers.0.self_attn.q_proj``); ``all-linear`` matches every
linear layer but the output head. Linear layers are ``nn.Linear`` and transformers' ``Conv1D`` (GPT-2's
``c_attn``, ``c_proj``...: weight ``in x out``). Adapters are created on the base weight's device (meta:
no memory); in float32 when the base is fp16 or bf16 (peft's ``autocast_adapter_dtype=True``, its
default), else in the base's dtype.

Checked against peft's published figure for Llama-2-7B with ``r=8`` on ``q_proj`` and ``v_proj``:
"trainable params: 4,194,304 || all params: 6,742,609,920" (tests/test_lora.py).

QLoRA: with ``base=nf4`` (or ``fp4``, ``nf4-dq``, ``fp4-dq``: double quantisation) every linear layer but
the output head is first stored in that 4-bit format, as transformers' ``BitsAndBytesConfig(load_in_4bit=
True, ...)`` loads it (:mod:`netcensus.load.qlora`: the packed bytes are charged, the dequantisation
temporaries of ``bnb.matmul_4bit`` are traced; ``compute=bf16`` sets ``bnb_4bit_compute_dtype``, default
the base weights' dtype when 16-bit, else bf16). Parameter counts stay logical, as peft's
``print_trainable_parameters`` counts a 4-bit weight (same figure as above). Targeted 4-bit layers get
peft's ``lora.bnb.Linear4bit`` forward (:class:`LoraLinear4bit`). ``base=int8`` (LLM.int8) is refused:
its outlier split depends on the values.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import torch
from torch import nn

from ..errors import SpecError
from .qlora import base_format, compute_dtype, quantize_base

_FIELDS = ("r", "alpha", "targets", "dropout", "base", "compute")
_OUTPUT_HEADS = ("lm_head", "classifier", "score", "qa_outputs", "cls", "head", "output")


@dataclass(frozen=True)
class LoraSpec:
    """What to add: rank ``r``, ``alpha`` (scaling ``alpha / r``), the ``targets`` module names (or
    ``("all-linear",)``), the adapters' input ``dropout`` probability; QLoRA: the ``base`` format its
    linear layers are stored in (None: unchanged; ``nf4``, ``fp4``, ``nf4-dq``, ``fp4-dq``) and the 4-bit
    layers' ``compute`` dtype (``bfloat16``, ``float16``, ``float32``; None: see :mod:`.qlora`)."""

    r: int = 8
    alpha: float = 8.0
    targets: tuple[str, ...] = ("q_proj", "v_proj")
    dropout: float = 0.0
    base: str | None = None
    compute: str | None = None

    def __post_init__(self) -> None:
        if isinstance(self.r, bool) or not isinstance(self.r, int) or self.r < 1:
            raise SpecError(f"LoRA rank r must be a positive integer, got {self.r!r}", fix="e.g. r=8")
        if not isinstance(self.alpha, (int, float)) or isinstance(self.alpha, bool) or self.alpha <= 0 \
                or not math.isfinite(self.alpha):
            raise SpecError(f"LoRA alpha must be a positive number, got {self.alpha!r}", fix="e.g. alpha=16")
        if not 0.0 <= self.dropout < 1.0:
            raise SpecError(f"LoRA dropout must be in [0, 1), got {self.dropout!r}", fix="e.g. dropout=0.05")
        if not self.targets or not all(isinstance(t, str) and t for t in self.targets):
            raise SpecError(f"LoRA targets must be module names, got {self.targets!r}",
                            fix="e.g. targets=q_proj+v_proj, or targets=all-linear")
        if self.base is not None:
            object.__setattr__(self, "base", base_format(self.base))
        if self.compute is not None:
            if self.base is None:
                raise SpecError(f"LoRA compute={self.compute} is the 4-bit base's compute dtype, and no base "
                                "format was given", where="--lora", fix="add base=nf4 (or drop compute=)")
            object.__setattr__(self, "compute", compute_dtype(self.compute))

    @property
    def scaling(self) -> float:
        return self.alpha / self.r

    @classmethod
    def parse(cls, text: str) -> LoraSpec:
        """``r=8,alpha=16,targets=q_proj+v_proj,dropout=0.05,base=nf4,compute=bf16`` (every field optional;
        targets joined by ``+``; defaults r=8, alpha=8 (peft's), targets q_proj+v_proj, dropout 0, base
        unchanged)."""
        values: dict[str, object] = {}
        fix = "write --lora r=8,alpha=16,targets=q_proj+v_proj[,dropout=0.05][,base=nf4[,compute=bf16]]"
        for part in filter(None, (p.strip() for p in text.split(","))):
            name, sep, value = part.partition("=")
            name = name.strip().lower()
            if not sep or name not in _FIELDS:
                known = ", ".join(f + "=" for f in _FIELDS)
                raise SpecError(f"--lora {text!r}: {part!r} is not one of {known}", fix=fix)
            try:
                if name == "r":
                    values["r"] = int(value)
                elif name in ("alpha", "dropout"):
                    values[name] = float(value)
                elif name in ("base", "compute"):
                    values[name] = value.strip()
                else:
                    values["targets"] = tuple(t.strip() for t in re.split(r"[+|;]", value) if t.strip())
            except ValueError:
                raise SpecError(f"--lora {text!r}: {name}={value!r} is not a number", fix=fix) from None
        return cls(**values)  # type: ignore[arg-type]


class LoraLinear(nn.Module):
    """A frozen linear layer plus its LoRA adapters (see the module docstring)."""

    def __init__(self, base: nn.Module, in_features: int, out_features: int, spec: LoraSpec):
        super().__init__()
        weight = base.weight
        dtype = torch.float32 if weight.dtype in (torch.float16, torch.bfloat16) else weight.dtype
        self.base_layer = base
        self.lora_dropout: nn.Module = nn.Dropout(spec.dropout) if spec.dropout else nn.Identity()
        self.lora_A = nn.Linear(in_features, spec.r, bias=False, device=weight.device, dtype=dtype)
        self.lora_B = nn.Linear(spec.r, out_features, bias=False, device=weight.device, dtype=dtype)
        self.scaling = spec.scaling
        if weight.device.type != "meta":  # peft's init: A Kaiming-uniform, B zeros (starts at the base)
            nn.init.kaiming_uniform_(self.lora_A.weight, a=math.sqrt(5))
            nn.init.zeros_(self.lora_B.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        result = self.base_layer(x)
        dtype = result.dtype
        x = x.to(self.lora_A.weight.dtype)
        result = result + self.lora_B(self.lora_A(self.lora_dropout(x))) * self.scaling
        return result.to(dtype)


class LoraLinear4bit(LoraLinear):
    """LoRA on a 4-bit base layer, with peft's ``lora.bnb.Linear4bit`` forward: the base's output is
    cloned, and outside autocast the adapters' output is cast to the base's dtype before the sum."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        result = self.base_layer(x).clone()
        convert = not torch.is_autocast_enabled()
        if convert:
            x = x.to(self.lora_A.weight.dtype)
        output = self.lora_B(self.lora_A(self.lora_dropout(x))) * self.scaling
        if convert:
            output = output.to(result.dtype)
        return result + output


def _features(module: nn.Module) -> tuple[int, int] | None:
    """(in, out) of a linear layer: nn.Linear, or transformers' Conv1D (weight in x out)."""
    if isinstance(module, nn.Linear):
        return module.in_features, module.out_features
    weight = getattr(module, "weight", None)
    if type(module).__name__ == "Conv1D" and isinstance(weight, torch.Tensor) and weight.dim() == 2:
        return weight.shape[0], weight.shape[1]
    return None


def _matches(name: str, targets: Sequence[str]) -> bool:
    return any(name == t or name.endswith("." + t) for t in targets)


@dataclass(frozen=True)
class LoraReport:
    """What :func:`add_lora` did: the wrapped modules, and peft's counts after it."""

    wrapped: tuple[str, ...]
    trainable: int
    total: int
    notes: tuple[str, ...] = field(default=())

    def __str__(self) -> str:  # peft's print_trainable_parameters
        return (f"trainable params: {self.trainable:,} || all params: {self.total:,} || "
                f"trainable%: {100 * self.trainable / self.total:.4f}")


def add_lora(model: nn.Module, spec: LoraSpec | str) -> LoraReport:
    """Add LoRA adapters to ``model`` in place (see the module docstring), on a 4-bit base when
    ``spec.base`` names one; returns what was done (with notes on the 4-bit base).

    Raises :class:`SpecError` when no linear layer matches the targets (the message lists the names the
    model's linear layers end with)."""
    if isinstance(spec, str):
        spec = LoraSpec.parse(spec)
    linear = [(name, m) for name, m in model.named_modules() if name and _features(m) is not None]
    if spec.targets == ("all-linear",):
        chosen = [(n, m) for n, m in linear if n.rsplit(".", 1)[-1] not in _OUTPUT_HEADS]
    else:
        chosen = [(n, m) for n, m in linear if _matches(n, spec.targets)]
    if not chosen:
        ends = sorted({n.rsplit(".", 1)[-1] for n, _ in linear})
        raise SpecError(f"no linear layer of {type(model).__name__} matches the LoRA targets "
                        f"{'+'.join(spec.targets)}", where="--lora",
                        fix=f"name some of its linear layers: {', '.join(ends[:12]) or '(it has none)'}, "
                            "or targets=all-linear")
    for p in model.parameters():
        p.requires_grad_(False)
    quantized = quantize_base(model, linear, spec.base, spec.compute) if spec.base else None
    for name, module in chosen:
        in_f, out_f = _features(module)  # type: ignore[misc]
        parent_name, _, local = name.rpartition(".")
        parent = model.get_submodule(parent_name)
        if quantized is not None and name in quantized.layers:
            setattr(parent, local, LoraLinear4bit(quantized.layers[name], in_f, out_f, spec))
        else:
            setattr(parent, local, LoraLinear(module, in_f, out_f, spec))
    report = lora_counts(model, tuple(n for n, _ in chosen))
    return report if quantized is None else replace(report, notes=quantized.notes)


def lora_counts(model: nn.Module, wrapped: tuple[str, ...] = ()) -> LoraReport:
    """Trainable and total parameters as peft counts them (each distinct tensor once)."""
    seen: set[int] = set()
    trainable = total = 0
    for p in model.parameters():
        if id(p) in seen:
            continue
        seen.add(id(p))
        total += p.numel()
        if p.requires_grad:
            trainable += p.numel()
    return LoraReport(wrapped, trainable, total)
