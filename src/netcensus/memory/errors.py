"""The one error the memory package raises on purpose: a choice that is not valid."""

from __future__ import annotations

from ..errors import NetcensusError


class MemoryConfigError(NetcensusError):
    """An optimizer, precision, sharding, checkpointing or budget choice that is not valid.

    The message names the value given and lists the valid ones.
    """
