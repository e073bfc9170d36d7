"""Model sources: every place a user's model comes from, built on meta without reading weights.

``load(spec, ...) -> Loaded``. Sources: Python code (``pkg.module:attr``, ``file.py:attr``),
transformers configs (``hf:...``), torchvision and timm names, TorchScript and ``torch.export``
programs, and, as a parameter census with no code executed, ``torch.save`` checkpoints and
safetensors files. Optional packages are imported by the adapter that needs them.
"""

from .core import load, load_file, load_model
from .literals import parse_value, split_pairs
from .result import Loaded, TensorInfo

__all__ = ["Loaded", "TensorInfo", "load", "load_file", "load_model", "parse_value", "split_pairs"]
