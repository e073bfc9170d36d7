"""Serving results: quantised weights, mixtures of experts, prefill and decode side by side.

Plain, frozen, torch-free data with ``to_dict`` / ``from_dict`` (``from_dict(to_dict(x)) == x``).
All sizes are bytes, all counts ints.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any


def _tuple_of(cls: Any, items: Any) -> tuple[Any, ...]:
    return tuple(cls.from_dict(x) if isinstance(x, dict) else x for x in items or ())


@dataclass(frozen=True)
class QuantTensor:
    """One parameter's bytes in the chosen weight format."""

    name: str
    shape: tuple[int, ...]
    format: str
    """The format's label (``"nf4"``, ``"gptq:128"``), or ``"16-bit (kept)"`` for an unquantised one."""
    bytes: int
    formula: str
    quantized: bool

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> QuantTensor:
        return cls(**{**d, "shape": tuple(d["shape"])})


@dataclass(frozen=True)
class QuantizedWeights:
    """The model's parameters in one weight format."""

    format: str
    layout: str
    """The format's byte formula."""
    source: str
    bytes: int
    quantized_bytes: int
    kept_bytes: int
    """Bytes of the parameters left unquantised (embeddings, lm_head, norms, biases...)."""
    original_bytes: int
    """Bytes of the parameters in their own dtypes."""
    tensors: tuple[QuantTensor, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> QuantizedWeights:
        return cls(**{**d, "tensors": _tuple_of(QuantTensor, d.get("tensors"))})


@dataclass(frozen=True)
class MoEBlock:
    """One mixture-of-experts layer."""

    path: str
    experts: int
    top_k: int
    expert_params: int
    """Parameters of all routed experts of this layer."""
    shared_params: int
    """Parameters of the shared experts (always active)."""
    router_params: int

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> MoEBlock:
        return cls(**d)


@dataclass(frozen=True)
class MoEInfo:
    """Total and active parameters of a mixture of experts, and the routing assumed."""

    total_params: int
    active_params: int
    """What one token uses: every parameter outside the routed experts (attention, embeddings and
    lm_head, norms, routers, shared experts, dense layers) + top_k/experts of each layer's routed
    experts."""
    blocks: tuple[MoEBlock, ...]
    routing: str
    """``"uniform"`` or the per-expert shares given."""
    tokens_per_expert: tuple[float, ...] = ()
    """Token-expert pairs each expert of one layer receives in the prefill step (uniform:
    tokens * top_k / experts each)."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> MoEInfo:
        return cls(**{**d, "blocks": _tuple_of(MoEBlock, d.get("blocks")),
                      "tokens_per_expert": tuple(d.get("tokens_per_expert") or ())})


@dataclass(frozen=True)
class Phase:
    """One traced serving step: the prefill of the prompt, or the decode of one token per sequence."""

    name: str
    """``"prefill"`` or ``"decode"``."""
    batch: int
    new_tokens: int
    """Tokens each sequence processes in this step (the prompt, or 1)."""
    context: int
    """Positions in the KV cache after the step, per sequence."""
    flops: int
    core_macs: int
    flops_per_token: int
    """``flops / (batch * new_tokens)``, rounded down."""
    attention_flops: int
    """FLOPs of the attention calls (over the cache when decoding)."""
    weights: int
    kv_cache: int
    """The KV cache after the step, in the chosen cache dtype, as the model's cache holds it (sliding
    windows, grouped-query and latent caches at their real sizes)."""
    kv_formula: str
    temporaries: int
    """Activations and workspaces at the step's peak (see docs/memory.md: serving)."""
    peak: int
    """weights + kv_cache + temporaries."""

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Phase:
        return cls(**d)


@dataclass(frozen=True)
class ServingFit:
    """The largest batch or context whose decode peak fits a budget."""

    along: str
    budget: int
    value: int
    peak: int
    """Decode peak at ``value`` (bytes)."""
    method: str
    tries: tuple[tuple[int, int], ...] = ()
    """(size, decode peak) of each traced size."""

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ServingFit:
        return cls(**{**d, "tries": tuple(tuple(t) for t in d.get("tries") or ())})


@dataclass(frozen=True)
class ServingResult:
    """Prefill and decode of one model for serving, with its weight format and KV cache dtype."""

    model: str
    weights: QuantizedWeights
    kv_dtype: str
    prefill: Phase
    decode: Phase
    moe: MoEInfo | None = None
    fit: ServingFit | None = None
    total_params: int = 0
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ServingResult:
        known = {f.name for f in fields(cls)}
        d = {k: v for k, v in d.items() if k in known}
        return cls(**{**d, "weights": QuantizedWeights.from_dict(d["weights"]),
                      "prefill": Phase.from_dict(d["prefill"]), "decode": Phase.from_dict(d["decode"]),
                      "moe": MoEInfo.from_dict(d["moe"]) if d.get("moe") else None,
                      "fit": ServingFit.from_dict(d["fit"]) if d.get("fit") else None,
                      "notes": tuple(d.get("notes") or ())})
