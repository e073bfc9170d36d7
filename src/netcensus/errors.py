"""Errors: one base class, structured subclasses that carry what went wrong, where, and the fix.

Inner code raises with the facts it knows; the public entry points add context (the module path, the
input spec) once. ``str(error)`` is one readable paragraph. ``usage`` errors are the user's to fix
(bad spec, input that does not fit the model): the CLI exits 2 for them and 1 for everything else.
"""

from __future__ import annotations


class NetcensusError(Exception):
    """Base class of every error netcensus raises on purpose."""

    usage = True
    exit_code = 2
    """The CLI's exit status for this error: 2 usage, 1 internal, 3 strict coverage failure."""

    def __init__(self, what: str, *, where: str | None = None, fix: str | None = None):
        self.what = what
        self.where = where
        self.fix = fix
        super().__init__(self.message())

    def message(self) -> str:
        parts = []
        if self.where:
            parts.append(f"{self.where}: {self.what}")
        else:
            parts.append(self.what)
        if self.fix:
            parts.append(f"Fix: {self.fix}")
        return " ".join(p if p.endswith((".", ":", "?", "!")) else p + "." for p in parts)


class SpecError(NetcensusError):
    """A model or input specification that cannot be parsed or loaded."""


class ModelLoadError(SpecError):
    """The model spec names something that cannot be imported, found or built."""


class InputError(NetcensusError):
    """The inputs do not fit the model (too small, wrong channels, wrong dtype, missing)."""


class TraceError(NetcensusError):
    """The model's forward or backward could not be traced (data-dependent code, an op meta cannot run)."""


class UnsupportedOpsError(NetcensusError):
    """``strict`` was asked for and some ops have no compute formula."""

    exit_code = 3


class InternalError(NetcensusError):
    """A bug in netcensus: please report it with the model and command."""

    usage = False
    exit_code = 1


class MemoryConfigError(SpecError):
    """An optimizer, precision, sharding, checkpointing or budget choice that is not valid.

    The message names the value given and lists the valid ones.
    """
