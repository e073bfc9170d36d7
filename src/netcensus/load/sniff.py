"""Tell what a model file is from its bytes, not its name.

``.pt`` is used for TorchScript archives and for ``torch.save`` checkpoints alike, so the kind comes
from the content: a zip archive is TorchScript when it holds ``constants.pkl`` or ``code/``, an
exported program when it holds ``archive_format`` and ``models/``, a checkpoint when it holds
``data.pkl``; a file whose first 8 bytes are a plausible little-endian header length followed by
``{`` is safetensors; a file starting with a pickle opcode is a legacy ``torch.save`` or plain pickle
(a checkpoint, to be read with the weights-only unpickler). Nothing is unpickled here.
"""

from __future__ import annotations

import os
import zipfile
from enum import Enum

from ..errors import ModelLoadError

ZIP_MAGIC = b"PK\x03\x04"
PICKLE_PROTO = 0x80


class FileKind(str, Enum):
    TORCHSCRIPT = "torchscript"
    EXPORT = "export"
    CHECKPOINT = "checkpoint"  # a torch.save zip archive
    PICKLE = "pickle"  # a legacy torch.save file or a plain pickle
    SAFETENSORS = "safetensors"
    INDEX = "index"  # a sharded checkpoint's *.index.json


#: file name endings netcensus reads, for messages and for routing a missing path.
SUFFIXES = (".safetensors", ".pt", ".pth", ".bin", ".ckpt", ".pt2", ".jit", ".ptl", ".torchscript",
            ".index.json", ".pkl")


def zip_names(path: str) -> list[str]:
    """Member names of a zip archive; a clear error for a truncated or corrupt one."""
    try:
        with zipfile.ZipFile(path) as archive:
            return archive.namelist()
    except zipfile.BadZipFile as exc:
        raise ModelLoadError("the file starts like a zip archive (as torch.save, torch.jit.save and "
                             f"torch.export.save write) but cannot be read as one ({exc}): it is "
                             "truncated or corrupt", where=f"file {path!r}",
                             fix="copy or download the file again and compare its size with the "
                                 "original") from exc


def sniff(path: str) -> FileKind:
    """The kind of the file at ``path`` (which exists)."""
    where = f"file {path!r}"
    if path.endswith(".index.json"):
        return FileKind.INDEX
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        head = f.read(9)
    if not head:
        raise ModelLoadError("the file is empty (0 bytes)", where=where,
                             fix="copy or download the file again")
    if head.startswith(ZIP_MAGIC):
        names = zip_names(path)
        if any(n.endswith("/constants.pkl") or "/code/" in n for n in names):
            return FileKind.TORCHSCRIPT
        if any(n.endswith("/archive_format") for n in names):
            return FileKind.EXPORT
        if any(n.endswith("/data.pkl") or n == "data.pkl" for n in names):
            return FileKind.CHECKPOINT
        raise ModelLoadError("a zip archive, but not one PyTorch writes (no data.pkl, "
                             "constants.pkl or archive_format)", where=where,
                             fix="give a torch.save checkpoint, a TorchScript file or a torch.export "
                                 ".pt2 file")
    if len(head) >= 9 and head[8:9] == b"{" and 2 <= int.from_bytes(head[:8], "little") <= size - 8:
        return FileKind.SAFETENSORS
    if path.endswith(".safetensors"):
        return FileKind.SAFETENSORS  # malformed: the safetensors reader says what is wrong
    if head[0] == PICKLE_PROTO:
        return FileKind.PICKLE
    raise ModelLoadError(f"not a file netcensus reads (its first bytes {head[:8]!r} match no "
                         "PyTorch or safetensors format)", where=where,
                         fix="give a .safetensors file, a torch.save checkpoint (.pt/.pth/.bin), a "
                             "TorchScript file or a torch.export .pt2 program")
