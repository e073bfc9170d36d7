"""netcensus: how big and how costly a PyTorch model is, layer by layer, traced on meta tensors."""

__version__ = "0.1.0"

from .api import fit, profile
from .errors import (
    InputError,
    InternalError,
    ModelLoadError,
    NetcensusError,
    SpecError,
    TraceError,
    UnsupportedOpsError,
)
from .profile import LayerRow, Profile

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
    "fit",
    "profile",
]
