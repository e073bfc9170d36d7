"""netcensus: how big and how costly a PyTorch model is, layer by layer, traced on meta tensors."""

from typing import TYPE_CHECKING, Any

from .errors import (
    InputError,
    InternalError,
    ModelLoadError,
    NetcensusError,
    SpecError,
    TraceError,
    UnsupportedOpsError,
)
from .gcscope import new_objects_only
from .results.profile import LayerRow, Profile
from .version import __version__

if TYPE_CHECKING:
    from .api import fit, profile
    from .serving import decode_step, serve

globals().pop("profile", None)  # importing the submodule netcensus.profile bound the name to the module


def __getattr__(name: str) -> Any:
    """``profile`` and ``fit`` import torch on first use, so ``netcensus show FILE.json`` needs no torch."""
    if name in ("profile", "fit"):
        with new_objects_only():
            from . import api

        value = getattr(api, name)
        globals()[name] = value
        return value
    if name in ("serve", "decode_step"):
        with new_objects_only():
            from . import serving

        value = getattr(serving, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'netcensus' has no attribute {name!r}")

__all__ = [
    "InputError",
    "InternalError",
    "LayerRow",
    "ModelLoadError",
    "NetcensusError",
    "Profile",
    "SpecError",
    "TraceError",
    "UnsupportedOpsError",
    "__version__",
    "decode_step",
    "fit",
    "profile",
    "serve",
]
