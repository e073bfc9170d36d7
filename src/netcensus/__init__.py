"""netcensus: how big and how costly a PyTorch model is, layer by layer, traced on meta tensors."""

import gc
from collections.abc import Iterator
from contextlib import contextmanager
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
from .results.profile import LayerRow, Profile
from .version import __version__

if TYPE_CHECKING:
    from .api import fit, profile
    from .serving import decode_step, serve

globals().pop("profile", None)  # importing the submodule netcensus.profile bound the name to the module


@contextmanager
def _older_objects_frozen() -> Iterator[None]:
    """The objects that exist already out of the cyclic garbage collector's sight (``gc.freeze``, as
    api.profile does for a trace): importing netcensus's modules allocates enough to trigger a full
    collection, which would walk the objects torch left in the process (0.1 s on 2 cores, about 4% of
    a cold run) to find no garbage among them. Skipped when the collector is off or the caller has
    frozen objects of its own."""
    if not gc.isenabled() or gc.get_freeze_count():
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def __getattr__(name: str) -> Any:
    """``profile`` and ``fit`` import torch on first use, so ``netcensus show FILE.json`` needs no torch."""
    if name in ("profile", "fit"):
        with _older_objects_frozen():
            from . import api

        value = getattr(api, name)
        globals()[name] = value
        return value
    if name in ("serve", "decode_step"):
        with _older_objects_frozen():
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
