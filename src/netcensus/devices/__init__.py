"""Devices an estimate can be made for: the GPU table as data with sources (:mod:`.gpu_table`), the
figures of one device (:mod:`.spec`), and lookups and user devices (:mod:`.gpus`).

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
