"""Example inputs for a transformers model, built to what its forward takes.

Text models (main input ``input_ids``): ``input_ids`` of ``batch x seq`` int64, plus
``decoder_input_ids`` of the same shape for encoder-decoders. ``seq`` defaults to
``min(128, max positions)``. An ``attention_mask`` of ones is added on real devices only: transformers
inspects the mask's values to choose an attention path, and meta tensors have no values (without a
mask every position is attended, as with an all-ones mask). Vision models (main input
``pixel_values``): ``batch x channels x image_size x image_size`` in the model's dtype. Any other
main input is unknown: None, and a note saying so.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

_POSITION_FIELDS = ("max_position_embeddings", "n_positions", "n_ctx", "max_seq_len", "seq_length")
DEFAULT_SEQ = 128


def max_positions(config: Any) -> int | None:
    """The longest sequence the config declares, or None (relative or rotary positions may declare none)."""
    for name in _POSITION_FIELDS:
        value = getattr(config, name, None)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return None


def example_inputs(model: nn.Module, config: Any, *, batch: int | None, seq: int | None,
                   device: str) -> tuple[tuple[tuple[Any, ...], dict[str, Any]] | None, list[str]]:
    """``((args, kwargs), notes)``, or ``(None, notes)`` when the inputs are unknown."""
    main = getattr(model, "main_input_name", "input_ids")
    b = batch or 1
    notes: list[str] = []
    if main == "input_ids":
        limit = max_positions(config)
        n = seq if seq is not None else (min(DEFAULT_SEQ, limit) if limit else DEFAULT_SEQ)
        if seq is not None and limit is not None and seq > limit:
            notes.append(f"seq {seq} is longer than the model's {limit} positions")
        kwargs: dict[str, Any] = {"input_ids": torch.zeros(b, n, dtype=torch.int64, device=device)}
        names = [f"input_ids {b}x{n} int64"]
        if getattr(config, "is_encoder_decoder", False):
            kwargs["decoder_input_ids"] = torch.zeros(b, n, dtype=torch.int64, device=device)
            names.append(f"decoder_input_ids {b}x{n} int64")
        if device == "meta":
            notes.append("no attention_mask on meta: transformers reads mask values, which meta tensors "
                         "lack; every position is attended, as with an all-ones mask")
        else:
            kwargs["attention_mask"] = torch.ones(b, n, dtype=torch.int64, device=device)
            names.append(f"attention_mask {b}x{n} int64")
        notes.insert(0, "inputs: " + ", ".join(names))
        return ((), kwargs), notes
    if main == "pixel_values":
        size = getattr(config, "image_size", 224)
        h, w = (size, size) if isinstance(size, int) else tuple(size)[:2]
        channels = getattr(config, "num_channels", 3) or 3
        dtype = next((p.dtype for p in model.parameters() if p.is_floating_point()), torch.float32)
        shape = (b, channels, h, w)
        value = torch.zeros(shape, dtype=dtype, device=device) if device == "meta" else \
            torch.randn(shape, dtype=dtype, device=device)
        notes.append(f"inputs: pixel_values {'x'.join(map(str, shape))} {str(dtype).removeprefix('torch.')}")
        if seq is not None:
            notes.append("seq does not apply to an image model; ignored")
        return ((), {"pixel_values": value}), notes
    notes.append(f"inputs unknown: {type(model).__name__} takes {main!r}, which netcensus does not build; "
                 "give the inputs explicitly (CLI: --input NAME=SHAPE:DTYPE)")
    return None, notes
