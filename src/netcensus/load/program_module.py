"""Wrap a saved program that netcensus cannot look inside (a TorchScript module, a flat exported graph)
so that it is profiled like any module.

Such a program's submodules are not called through Python, so module hooks never fire inside it, and
TorchScript modules refuse the module-tree access tracing needs. :class:`ProgramModule` keeps the
program out of the module tree and mirrors its tree with plain modules that hold the same parameters
and buffers: the census per layer is the program's, and its forward, run as one step at the root,
records every op it executes. The mirrors are never called (the report lists them as such).
"""

from __future__ import annotations

from typing import Any

from torch import nn

_ATTR = "_netcensus_program"
_CLASSES: dict[str, type[nn.Module]] = {}


class ProgramPart(nn.Module):
    """A mirror of one submodule of a program: its own parameters and buffers, no forward."""

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("a mirror of a program's submodule is not callable; call the program")


def _part_class(type_name: str) -> type[nn.Module]:
    """A ProgramPart subclass named after the original module type (shown in reports)."""
    name = type_name if type_name.isidentifier() else "ProgramPart"
    cls = _CLASSES.get(name)
    if cls is None:
        cls = _CLASSES[name] = type(name, (ProgramPart,), {"__module__": __name__})
    return cls


def original_type(module: nn.Module) -> str:
    """The class name a program's submodule had before it was saved."""
    return str(getattr(module, "original_name", None) or type(module).__name__)


class ProgramModule(nn.Module):
    """``program`` behind a plain module tree of the same shape and tensors; ``forward`` calls it."""

    def __init__(self, program: nn.Module, kind: str):
        super().__init__()
        self.__dict__[_ATTR] = program
        self.kind = kind
        nodes: dict[str, nn.Module] = {"": self}
        for path, sub in program.named_modules():
            if path:
                parent, _, local = path.rpartition(".")
                node = _part_class(original_type(sub))()
                nodes[parent].add_module(local, node)
                nodes[path] = node
        for path, sub in program.named_modules():
            node = nodes[path]
            for name, p in sub.named_parameters(recurse=False):
                param = p if isinstance(p, nn.Parameter) else nn.Parameter(p, requires_grad=p.requires_grad)
                node.register_parameter(name, param)
            for name, b in sub.named_buffers(recurse=False):
                node.register_buffer(name, b)

    @property
    def program(self) -> nn.Module:
        return self.__dict__[_ATTR]

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        return self.program(*args, **kwargs)

    def train(self, mode: bool = True) -> ProgramModule:
        """Set the mirrors' flags and, where the program allows it, the program's own."""
        super().train(mode)
        try:
            self.program.train(mode)
        except NotImplementedError:  # an exported graph fixes its mode when it is exported
            pass
        return self
