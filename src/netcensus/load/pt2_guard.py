"""Refuse a ``.pt2`` archive whose pickles would do more than build tensors, before torch reads it.

``torch.export.load`` unpickles the archive's sample inputs, its pickled weights and constants with
the full unpickler, and opaque or script objects with their own loaders. This guard reads the archive
with :mod:`zipfile`, finds every such member from the archive's payload configs, and loads each pickle
with ``torch.load(weights_only=True)``: a pickle that names any other global is refused, and so is
any opaque or script object, since neither can be checked. Passing the guard means every pickle
torch will run builds only tensors, numbers, strings and containers.
"""

from __future__ import annotations

import io
import json
import pickle
import zipfile

import torch

from ..errors import ModelLoadError

_PAYLOAD_CONFIGS = ("_weights_config.json", "_constants_config.json")
_UNCHECKABLE = ("custom_obj_", "opaque_obj_")


def _refuse(where: str, member: str, reason: str) -> ModelLoadError:
    return ModelLoadError(
        f"refused: the archive's member {member!r} {reason}; torch.export.load would unpickle it with the "
        "full unpickler, which can run code", where=where,
        fix="export the program again from code you trust; netcensus loads .pt2 archives only when every "
            "pickle in them holds plain tensors and containers")


def _rejection(exc: Exception) -> str:
    for line in str(exc).splitlines():
        if "GLOBAL" in line or "Unsupported" in line:
            return line.strip()
    return "a global the weights-only unpickler does not allow"


def check_pt2(path: str) -> int:
    """Check every pickle ``torch.export.load`` would unpickle; return how many were checked."""
    where = f"file {path!r}"
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile as exc:
        raise ModelLoadError(f"not a readable zip archive ({exc}): it is truncated or corrupt", where=where,
                             fix="copy or export the file again") from exc
    with archive:
        names = archive.namelist()
        rooted = {n: "/" + n for n in names}  # the writer puts a root folder first; tolerate its absence
        if not any("/models/" in r and r.endswith(".json") for r in rooted.values()):
            raise ModelLoadError("the archive holds no exported program (no models/*.json); it may be a "
                                 "compiled AOTInductor package, which netcensus cannot trace", where=where,
                                 fix="give the .pt2 written by torch.export.save")
        pickled = [n for n, r in rooted.items() if n.endswith(".pt") and (
            "/data/sample_inputs/" in r or "/data/weights/" in r or "/data/constants/" in r)]
        for name in names:
            if not name.endswith(_PAYLOAD_CONFIGS):
                continue
            folder = name.rsplit("/", 1)[0] + "/" if "/" in name else ""
            try:
                entries = json.loads(archive.read(name)).get("config", {})
            except (ValueError, AttributeError) as exc:
                raise ModelLoadError(f"its member {name!r} is not a valid payload config ({exc})",
                                     where=where, fix="export the program again") from exc
            for fqn, meta in entries.items():
                file_name = str(meta.get("path_name", ""))
                if file_name.startswith(_UNCHECKABLE):
                    raise _refuse(where, folder + file_name, f"holds a Python or script object ({fqn}) that "
                                                             "cannot be checked without running it")
                if meta.get("use_pickle"):
                    pickled.append(folder + file_name)
        unique = list(dict.fromkeys(pickled))
        for member in unique:
            try:
                data = archive.read(member)
            except KeyError as exc:
                raise ModelLoadError(f"the archive lacks its member {member!r}: it is incomplete",
                                     where=where, fix="export the program again") from exc
            try:
                torch.load(io.BytesIO(data), weights_only=True, map_location="cpu")
            except pickle.UnpicklingError as exc:
                raise _refuse(where, member, f"is a pickle that torch.load(weights_only=True) rejects "
                                             f"({_rejection(exc)})") from exc
            except Exception as exc:
                raise ModelLoadError(f"its member {member!r} cannot be read ({type(exc).__name__}: {exc})",
                                     where=where, fix="export the program again") from exc
        return len(unique)
