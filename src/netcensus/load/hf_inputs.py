"""Example inputs for a transformers model, built to what its forward takes.

Text models (main input ``input_ids``): ``input_ids`` of ``batch x seq`` int64, plus
``decoder_input_ids`` of the same shape for encoder-decoders. ``seq`` defaults to
``min(128, max positions)``; a longer ``seq`` than a learned position table has is an error (see
:mod:`.positions`). An ``attention_mask`` of ones (no padding) is added: on meta it has no values, and
where transformers reads them the trace assumes all ones and says so. Vision models (main input
``pixel_values``): ``batch x channels x image_size x image_size`` in the model's dtype. Any other
main input is unknown: None, and a note saying so.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from . import positions

DEFAULT_SEQ = 128


def max_positions(config: Any) -> int | None:
    """The longest sequence the config declares, or None (relative or rotary positions may declare none)."""
    found = positions.max_positions(config)
    return found[0] if found else None


def example_inputs(model: nn.Module, config: Any, *, batch: int | None, seq: int | None,
                   device: str) -> tuple[tuple[tuple[Any, ...], dict[str, Any]] | None, list[str]]:
    """``((args, kwargs), notes)``, or ``(None, notes)`` when the inputs are unknown."""
    main = getattr(model, "main_input_name", "input_ids")
    b = batch or 1
    notes: list[str] = []
    if main == "input_ids":
        limit = max_positions(config)
        n = seq if seq is not None else (min(DEFAULT_SEQ, limit) if limit else DEFAULT_SEQ)
        # raises past a learned position table; warns past computed positions
        notes.extend(positions.check_positions(model, seq, where=f"--seq {seq}"))
        kwargs: dict[str, Any] = {"input_ids": torch.zeros(b, n, dtype=torch.int64, device=device)}
        names = [f"input_ids {b}x{n} int64"]
        if getattr(config, "is_encoder_decoder", False):
            kwargs["decoder_input_ids"] = torch.zeros(b, n, dtype=torch.int64, device=device)
            names.append(f"decoder_input_ids {b}x{n} int64")
        # On meta the mask has no values: where transformers reads them (may the mask be skipped?), the trace
        # assumes all ones, no padding, and says so (see netcensus.trace.values).
        kwargs["attention_mask"] = torch.ones(b, n, dtype=torch.int64, device=device)
        names.append(f"attention_mask {b}x{n} int64 (all ones: no padding)")
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
