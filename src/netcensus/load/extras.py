"""Optional integrations: import one inside the adapter that needs it, or say which extra installs it."""

from __future__ import annotations

import importlib
from types import ModuleType

from ..errors import ModelLoadError

#: import name -> the netcensus extra that installs it.
EXTRAS = {"transformers": "hf", "torchvision": "vision", "timm": "vision"}


def require(module: str, *, purpose: str, where: str) -> ModuleType:
    """Import ``module`` or raise a :class:`ModelLoadError` naming the extra to install."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        extra = EXTRAS.get(module)
        fix = f"pip install 'netcensus[{extra}]' (or pip install {module})" if extra else \
            f"pip install {module}"
        raise ModelLoadError(f"{purpose} need the optional package {module!r}, which cannot be imported "
                             f"({exc})", where=where, fix=fix) from exc
