"""``pkg.module:attr`` and ``path/to/file.py:attr``: a model named by the code that builds it.

``attr`` (dotted for nested names) may be an ``nn.Module`` instance (used as is), an ``nn.Module``
class, or a factory; a class or factory is called with the given positional and keyword arguments
under ``torch.device(device)``, so that a class that creates its weights in ``__init__`` creates them on
meta and no memory is spent on them. Importing the module runs its code, as ``python -c "import ..."``
would: this source is for code the user trusts.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import os
import sys
from collections.abc import Mapping, Sequence
from difflib import get_close_matches
from typing import Any, Literal

import torch
from torch import nn

from ..errors import ModelLoadError, SpecError
from .result import Loaded


def _buildable(obj: Any) -> list[str]:
    """Public names defined in ``obj`` (a module) that can build a model: nn.Module subclasses and
    instances, and functions, but not what it imported (``nn``, ``F``, ``torch``)."""
    home = getattr(obj, "__name__", None)
    out = []
    for name in dir(obj):
        if name.startswith("_"):
            continue
        value = getattr(obj, name, None)
        if isinstance(value, nn.Module) or (isinstance(value, type) and issubclass(value, nn.Module)
                                            and value.__module__ == home) or \
                (inspect.isfunction(value) and value.__module__ == home):
            out.append(name)
    return out


def load_python(spec: str, args: Sequence[Any], kwargs: Mapping[str, Any], device: str) -> Loaded:
    """Build the model ``spec`` names, calling it with ``args``/``kwargs`` (already parsed values)."""
    where = f"model {spec!r}"
    target, _, attr = spec.rpartition(":")
    if not target.strip() or not attr:
        raise SpecError(f"model spec {spec!r} is not MODULE:NAME (a module or file, ':', a name)",
                        fix="write pkg.module:attr or path/to/file.py:Name")
    module = _import_target(target, where)
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            names = _buildable(obj)
            close = get_close_matches(part, names, n=1, cutoff=0.6)
            hint = ", ".join(names[:12]) + (" ..." if len(names) > 12 else "")
            fix = f"did you mean {target}:{close[0]}? " if close else ""
            fix += f"models available: {hint}" if hint else "nothing here builds a model (no nn.Module class, instance or " \
                "factory function is defined in it)"
            raise ModelLoadError(f"{target!r} has no attribute {part!r}", where=where, fix=fix)
        obj = getattr(obj, part)
    if isinstance(obj, nn.Module):
        if args or kwargs:
            raise SpecError(f"{attr!r} is a module instance, which takes no arguments", where=where,
                            fix="drop --arg/--kwarg, or name the class or factory that builds it")
        devices = sorted({t.device.type for t in obj.parameters()} | {t.device.type for t in obj.buffers()})
        notes = (f"used the instance {attr} as it is; its tensors are on {', '.join(devices)}",) \
            if devices and devices != ["meta"] else ()
        return Loaded(obj, None, f"{spec} ({type(obj).__name__} instance)", notes, source="python")
    if isinstance(obj, type) and not issubclass(obj, nn.Module):
        raise ModelLoadError(f"{attr!r} is a class but not a torch.nn.Module subclass", where=where,
                             fix="name an nn.Module class, instance or factory")
    if not callable(obj):
        raise ModelLoadError(f"{attr!r} is a {type(obj).__name__}, not a model", where=where,
                             fix="name an nn.Module class, instance or factory")
    call = _call_text(attr, args, kwargs)
    try:
        with _UserCode(call, where), torch.device(device):
            built = obj(*args, **kwargs)
    except ModelLoadError:
        raise
    except Exception as exc:
        raise ModelLoadError(f"calling {call} raised {type(exc).__name__}: {exc}", where=where,
                             fix=_call_fix(obj, attr, bool(args or kwargs))) from exc
    if not isinstance(built, nn.Module):
        raise ModelLoadError(f"{call} returned a {type(built).__name__}, not a torch.nn.Module",
                             where=where, fix="return an nn.Module from the factory")
    kind = "class" if isinstance(obj, type) else "factory"
    return Loaded(built, None, f"{spec} ({type(built).__name__} built by {call} on {device})",
                  (f"built by calling the {kind} {call} under torch.device({device!r})",), source="python")


def _call_text(attr: str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> str:
    parts = [repr(a) for a in args] + [f"{k}={v!r}" for k, v in kwargs.items()]
    return f"{attr}({', '.join(parts)})"


def _call_fix(obj: Any, attr: str, had_arguments: bool) -> str:
    try:
        signature = f"{attr}{inspect.signature(obj)}"
    except (TypeError, ValueError):
        signature = ""
    if signature:
        return f"give the arguments it expects: {signature} (CLI: --arg VALUE, --kwarg NAME=VALUE)"
    if had_arguments:
        return "check the arguments (CLI: --arg VALUE, --kwarg NAME=VALUE)"
    return "name a class or factory that can be called without arguments, or give --arg/--kwarg"


def _import_target(target: str, where: str) -> Any:
    """Import a module by dotted name, or a ``.py`` file by path (registered in ``sys.modules`` under a
    private name so that classes pickled or compared by module keep working)."""
    if target.endswith(".py") or os.sep in target or "/" in target:
        path = os.path.abspath(os.path.expanduser(target))
        if not os.path.isfile(path):
            raise ModelLoadError(f"no such file {target!r}", where=where, fix="check the path")
        name = "_netcensus_user_" + os.path.splitext(os.path.basename(path))[0].replace("-", "_")
        file_spec = importlib.util.spec_from_file_location(name, path)
        if file_spec is None or file_spec.loader is None:
            raise ModelLoadError(f"{target!r} is not a Python file", where=where, fix="name a .py file")
        module = importlib.util.module_from_spec(file_spec)
        sys.modules[name] = module
        try:
            with _UserCode(f"importing {target!r}", where, argv0=path):
                file_spec.loader.exec_module(module)
        except SyntaxError as exc:
            sys.modules.pop(name, None)
            raise ModelLoadError(f"{target!r} {_syntax(exc)}", where=where, fix="fix the file") from exc
        except ModelLoadError:
            sys.modules.pop(name, None)
            raise
        except Exception as exc:
            sys.modules.pop(name, None)
            raise ModelLoadError(f"importing {target!r} raised {type(exc).__name__}: {exc}", where=where,
                                 fix="fix the error in the file") from exc
        return module
    try:
        with _UserCode(f"importing {target!r}", where, argv0=target):
            return importlib.import_module(target)
    except SyntaxError as exc:
        raise ModelLoadError(f"module {target!r} {_syntax(exc)}", where=where, fix="fix the module") from exc
    except ModelLoadError:
        raise
    except ImportError as exc:
        raise ModelLoadError(f"cannot import {target!r}: {exc}", where=where,
                             fix="check the module name and that its package is installed "
                                 "(or give a file path: path/to/file.py:Name)") from exc
    except Exception as exc:
        raise ModelLoadError(f"importing {target!r} raised {type(exc).__name__}: {exc}", where=where,
                             fix="fix the error in the module") from exc



def _syntax(exc: SyntaxError) -> str:
    if exc.lineno:
        return f"has a syntax error at line {exc.lineno}: {exc.msg}"
    return f"is not valid Python source: {exc.msg}"


class _UserCode:
    """Run the user's code (importing their module, calling their factory) as ``python FILE`` would with
    no arguments: ``sys.argv`` is ``[FILE]`` meanwhile, so a script that parses its command line at import
    time does not see netcensus's arguments; and ``sys.exit()`` becomes a ModelLoadError instead of
    silently ending netcensus (with exit status 0 when the script exits cleanly)."""

    def __init__(self, what: str, where: str, argv0: str | None = None):
        self.what, self.where, self.argv0 = what, where, argv0
        self.saved = sys.argv

    def __enter__(self) -> None:
        self.saved = sys.argv
        if self.argv0 is not None:
            sys.argv = [self.argv0]

    def __exit__(self, kind: Any, exc: BaseException | None, tb: Any) -> Literal[False]:
        sys.argv = self.saved
        if isinstance(exc, SystemExit):
            raise ModelLoadError(f"{self.what} called sys.exit({exc.code!r})", where=self.where,
                                 fix="a script that runs (parses its command line, trains, exits) when "
                                     "imported cannot be loaded as a model: put its top-level code under "
                                     "if __name__ == '__main__':") from None
        return False
