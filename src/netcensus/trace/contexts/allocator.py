"""What the CUDA caching allocator measured over a traced run on a real CUDA device.

``meter = AllocatorMeter()``; pass ``lambda: meter`` among ``trace_model``'s contexts when tracing on a
CUDA device; afterwards ``meter.measured`` holds ``max_memory_allocated`` and ``max_memory_reserved``
over the traced run (its peaks are reset when the run starts), and ``memory_allocated`` before it. On
any other device, or without CUDA, it does nothing and ``measured`` stays empty. Give ``measured`` to
``analyze_memory(measured=...)`` to report it beside the estimate. The traced run is a forward (and
backward with ``train``) without an optimizer step; the figures are the device's, not a prediction.
"""

from __future__ import annotations

from typing import Any

import torch


class AllocatorMeter:
    """A context manager recording the CUDA allocator's peaks over its block (see the module docstring)."""

    def __init__(self, device: str | torch.device = "cuda"):
        self.device = torch.device(device)
        self.measured: dict[str, int] = {}
        self._on = False

    def __enter__(self) -> AllocatorMeter:
        self._on = self.device.type == "cuda" and torch.cuda.is_available()
        if self._on:
            torch.cuda.synchronize(self.device)
            self.measured = {"memory_allocated_before": int(torch.cuda.memory_allocated(self.device))}
            torch.cuda.reset_peak_memory_stats(self.device)
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._on:
            torch.cuda.synchronize(self.device)
            self.measured["max_memory_allocated"] = int(torch.cuda.max_memory_allocated(self.device))
            self.measured["max_memory_reserved"] = int(torch.cuda.max_memory_reserved(self.device))
