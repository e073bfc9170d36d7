"""Devices an estimate can be made for: the GPU table (:mod:`.gpus`), as data with sources.

Imports only errors/dtypes/units (no torch).
"""

from .gpus import (
    GPUS,
    PEAK_KEYS,
    PYTORCH_DEFAULTS,
    DeviceSpec,
    custom_device,
    get_gpu,
    load_device,
    names,
    table_rows,
)

__all__ = [
    "GPUS",
    "PEAK_KEYS",
    "PYTORCH_DEFAULTS",
    "DeviceSpec",
    "custom_device",
    "get_gpu",
    "load_device",
    "names",
    "table_rows",
]
