"""Positions beyond what a model supports, found before anything is traced.

A transformers config declares how many positions the model has (``max_position_embeddings``,
``n_positions``...). Where the model holds a *learned* position table of that size (GPT-2's ``wpe``,
BERT's ``position_embeddings``: an ``nn.Embedding`` with that many rows, or two more as OPT and BART
keep), a longer sequence indexes past the table: a real run raises ``IndexError`` (on CUDA, a device-side
assert), while a meta trace, which reads no indices, would succeed. That is an error here. Where
positions are computed (rotary, ALiBi, relative), a longer sequence runs but goes beyond the context the
model was trained for: a warning.

The same holds for a KV-cache context (``kv_context``): a cache of more tokens than the model has
positions is never reached by a real run with a learned table.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ..errors import SpecError

_POSITION_FIELDS = ("max_position_embeddings", "n_positions", "n_ctx", "max_seq_len", "seq_length")
_SEQUENCE_INPUTS = ("input_ids", "inputs_embeds", "decoder_input_ids", "decoder_inputs_embeds")


@dataclass(frozen=True)
class PositionLimit:
    """The positions a model has: ``limit`` from the config field ``field``; ``learned`` when an
    ``nn.Embedding`` of that many rows (``table``, its module path) holds them."""

    limit: int
    field: str
    learned: bool
    table: str | None = None


def max_positions(config: Any) -> tuple[int, str] | None:
    """The longest sequence the config declares and the field that says so, or None (relative or rotary
    positions may declare none)."""
    for name in _POSITION_FIELDS:
        value = getattr(config, name, None)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            aliases = getattr(config, "attribute_map", None)  # GPT-2 stores n_positions under its alias
            return value, aliases.get(name, name) if isinstance(aliases, dict) else name
    return None


def position_limit(model: nn.Module) -> PositionLimit | None:
    """The position limit of a transformers-style model (one with a ``config``), or None."""
    config = getattr(model, "config", None)
    found = max_positions(config) if config is not None else None
    if found is None:
        return None
    limit, field = found
    vocab = getattr(config, "vocab_size", None)
    for path, m in model.named_modules():
        if isinstance(m, nn.Embedding) and m.num_embeddings in (limit, limit + 2) \
                and m.num_embeddings != vocab:
            return PositionLimit(limit, field, True, path)
    return PositionLimit(limit, field, False)


def sequence_length(args: tuple, kwargs: Mapping[str, Any]) -> int | None:
    """The sequence length of a transformers-style call: dimension 1 of ``input_ids`` (or
    ``inputs_embeds``, or the decoder's), else of a first positional integer tensor of rank 2."""
    lengths = [v.shape[1] for k, v in kwargs.items()
               if k in _SEQUENCE_INPUTS and isinstance(v, torch.Tensor) and v.dim() >= 2]
    if not lengths and args and isinstance(args[0], torch.Tensor) and args[0].dim() == 2 \
            and not args[0].is_floating_point():
        lengths = [args[0].shape[1]]
    return max(lengths) if lengths else None


def check_positions(model: nn.Module, seq: int | None, kv_context: int | None = None,
                    where: str | None = None) -> list[str]:
    """Raise :class:`SpecError` when ``seq`` or ``kv_context`` exceeds a learned position table; return
    warnings (one sentence each) when they exceed the positions of a model that computes them."""
    found = position_limit(model)
    if found is None:
        return []
    warnings = []
    where = where or type(model).__name__
    for what, value in (("sequence length", seq), ("KV-cache context (kv_context)", kv_context)):
        if value is None or value <= found.limit:
            continue
        said = f"{what} {value:,} is longer than the {found.limit:,} positions of the model " \
               f"(config.{found.field})"
        if found.learned:
            raise SpecError(f"{said}: its position table {found.table} has {found.limit:,} rows, so a real "
                            "run raises IndexError", where=where,
                            fix=f"use at most {found.limit:,} positions (CLI: --seq / --kv-context), or a "
                                f"model with more (--set {found.field}=N builds one, untrained)")
        warnings.append(f"{said}; its positions are computed, so it runs, beyond the context it was "
                        "trained for")
    return warnings
