"""Find the ``config.json`` values for ``hf:NAME`` without touching the network.

In order: a local directory holding ``config.json`` (or a path to a ``.json`` file); the Hugging Face
cache, when it holds the model's config (``$HF_HUB_CACHE``, else ``$HF_HOME/hub``, else
``$XDG_CACHE_HOME/huggingface/hub``, else ``~/.cache/huggingface/hub``; the snapshot ``refs/main``
points to, else the newest); the table shipped with netcensus (:mod:`.hf_table`); a transformers
model type (``llama``, ``bert``), whose config class defaults are the starting point. Nothing is
downloaded and no hub library is called: files are read directly.
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ModelLoadError, SpecError
from .hf_table import find_known, known_names
from .jsonfile import read_json_object


@dataclass(frozen=True)
class ResolvedConfig:
    """Config values and where they came from. ``model_type`` is always set; ``values`` excludes it.
    ``from_type`` is True when no config was found and the model type's defaults are used."""

    model_type: str
    values: dict[str, Any]
    origin: str
    from_type: bool = False


def hub_cache_dirs() -> list[Path]:
    """Directories that may hold a Hugging Face hub cache, most specific first."""
    env = os.environ
    dirs = []
    for var in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        if env.get(var):
            dirs.append(Path(env[var]).expanduser())
    if env.get("HF_HOME"):
        dirs.append(Path(env["HF_HOME"]).expanduser() / "hub")
    xdg = Path(env["XDG_CACHE_HOME"]).expanduser() if env.get("XDG_CACHE_HOME") else Path.home() / ".cache"
    dirs.append(xdg / "huggingface" / "hub")
    seen: list[Path] = []
    for d in dirs:
        if d not in seen:
            seen.append(d)
    return seen


def cached_config(repo_id: str) -> Path | None:
    """The cached ``config.json`` of ``repo_id`` (``org/name`` or ``name``), or None."""
    folder = "models--" + repo_id.strip("/").replace("/", "--")
    for cache in hub_cache_dirs():
        root = cache / folder
        snapshots = root / "snapshots"
        if not snapshots.is_dir():
            continue
        ref = root / "refs" / "main"
        if ref.is_file():
            candidate = snapshots / ref.read_text().strip() / "config.json"
            if candidate.is_file():
                return candidate
        found = sorted(snapshots.glob("*/config.json"), key=lambda p: p.stat().st_mtime, reverse=True)
        if found:
            return found[0]
    return None


def _from_file(path: Path, origin: str, where: str) -> ResolvedConfig:
    values = read_json_object(path, where)
    model_type = values.pop("model_type", None)
    if not isinstance(model_type, str) or not model_type:
        raise ModelLoadError(f"{str(path)!r} has no model_type", where=where,
                             fix="add \"model_type\" (e.g. \"llama\") to the config, as transformers "
                                 "writes it")
    return ResolvedConfig(model_type, values, origin)


def resolve_config(name: str, model_types: list[str], where: str) -> ResolvedConfig:
    """Config values for ``name``. ``model_types`` are the model types transformers knows."""
    name = name.strip()
    if not name:
        raise SpecError("hf: names no model", where=where,
                        fix="write hf:ORG/NAME (e.g. hf:gpt2), hf:path/to/dir or hf:MODEL_TYPE "
                            "(e.g. hf:llama)")
    path = Path(name).expanduser()
    if path.is_dir():
        config = path / "config.json"
        if not config.is_file():
            raise ModelLoadError(f"directory {name!r} has no config.json", where=where,
                                 fix="point at the folder that holds the model's config.json")
        return _from_file(config, f"the local config {config}", where)
    if path.is_file():
        return _from_file(path, f"the local config {path}", where)
    if name.startswith((".", "/", "~")) or name.endswith(".json"):
        raise ModelLoadError(f"no such directory or file {name!r}", where=where, fix="check the path")
    known = find_known(name)
    for repo_id in dict.fromkeys([name] + ([known.repo, *known.aliases] if known else [])):
        cached = cached_config(repo_id)
        if cached is not None:
            return _from_file(cached, f"the Hugging Face cache ({cached})", where)
    if known is not None:
        values = dict(known.config)
        model_type = values.pop("model_type")
        return ResolvedConfig(model_type, values, f"the shipped config table, entry {known.repo}")
    lowered = {t.lower(): t for t in model_types}
    for candidate in (name.lower(), name.lower().replace("_", "-"), name.lower().replace("-", "_")):
        if candidate in lowered:
            model_type = lowered[candidate]
            return ResolvedConfig(model_type, {}, f"transformers' default {model_type} config",
                                  from_type=True)
    pool = list(dict.fromkeys(known_names() + [n.rsplit("/", 1)[-1] for n in known_names()]
                              + list(model_types)))
    by_lower = {p.lower(): p for p in pool}
    close = list(dict.fromkeys(by_lower[c] for c in difflib.get_close_matches(name.lower(), list(by_lower),
                                                                               n=4, cutoff=0.6)))
    repo = name if "/" in name else "ORG/NAME"  # a bare misspelt name is no repository to download
    hint = f"did you mean {' or '.join('hf:' + c for c in close[:3])}? Otherwise " if close else ""
    raise ModelLoadError(
        f"no config for {name!r}: not a local directory, not in the Hugging Face cache, not in netcensus' "
        "shipped table, and not a transformers model type", where=where,
        fix=f"{hint}download only its config (huggingface-cli download {repo} config.json) and run again, "
            "point at a directory with config.json (hf:path/to/dir), or start from a model type with "
            "overrides (hf:llama --set hidden_size=4096)")
