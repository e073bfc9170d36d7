"""The JSON profile: versioned, documented key by key, and loaded back without torch so that every
renderer gives the same text for the loaded profile as for the live one."""

from __future__ import annotations

import json
import pathlib
import re
import subprocess
import sys

import pytest
from report_models import TinyTransformer

import netcensus
from netcensus import Profile
from netcensus.errors import SpecError
from netcensus.examples import ALEXNET_INPUT, alexnet
from netcensus.results.schema import SCHEMA_VERSION

ROOT = pathlib.Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "json-schema.md"


@pytest.fixture(scope="module")
def profiles():
    inference = netcensus.profile(alexnet(), input_size=ALEXNET_INPUT)
    training = netcensus.profile(TinyTransformer(), input_size="2x16:int64", train=True, kv_context=64,
                                 depth=None)
    return {"inference": inference, "training": training}


def _roundtrip(p: Profile) -> Profile:
    return Profile.from_dict(json.loads(json.dumps(p.to_dict())))


@pytest.mark.parametrize("which", ["inference", "training"])
def test_to_dict_from_dict_roundtrip(profiles, which):
    p = profiles[which]
    data = p.to_dict()
    assert data["schema_version"] == SCHEMA_VERSION
    q = _roundtrip(p)
    assert q.to_dict() == data
    assert q.total_params == p.total_params and q.flops == p.flops and q.macs == p.macs
    assert q.memory.peak == p.memory.peak and q.memory.model_states == p.memory.model_states
    assert [r.input_shapes for r in q.layers] == [r.input_shapes for r in p.layers]
    assert q.compute.coverage.complete == p.compute.coverage.complete
    if which == "training":
        assert q.kv_cache.bytes == p.kv_cache.bytes > 0


@pytest.mark.parametrize("which", ["inference", "training"])
@pytest.mark.parametrize("fmt,options", [
    ("table", {}), ("table", {"depth": None, "memory_columns": True}), ("table", {"explain": True}),
    ("table", {"by_op": True}), ("table", {"width": 80, "sort": "flops"}), ("md", {}), ("csv", {}),
    ("html", {}), ("json", {}),
])
def test_loaded_profile_renders_exactly_like_the_live_one(profiles, which, fmt, options):
    p = profiles[which]
    assert _roundtrip(p).render(fmt, **options) == p.render(fmt, **options)


def test_repr_html_of_loaded_profile(profiles):
    p = profiles["training"]
    assert _roundtrip(p)._repr_html_() == p._repr_html_()


def test_unknown_keys_are_ignored_and_old_files_read(profiles):
    data = profiles["inference"].to_dict()
    data["a_key_from_1_1"] = {"x": 1}
    data["layers"][0]["another_new_key"] = 3
    data["memory"]["new_memory_figure"] = 5
    del data["schema_version"]  # written before versioning: read as 1.0
    assert Profile.from_dict(data).total_params == 46_764_746


def test_a_newer_major_is_refused_with_the_writer_named(profiles):
    data = profiles["inference"].to_dict()
    data["schema_version"] = "2.0"
    with pytest.raises(SpecError, match="schema version 2.0.*reads 1.x") as err:
        Profile.from_dict(data)
    assert "netcensus_version" in str(err.value)


def test_not_a_profile_is_refused():
    with pytest.raises(SpecError, match="not a netcensus profile"):
        Profile.from_dict({"hello": 1})


def _keys(data: dict) -> dict[str, set[str]]:
    m = data["memory"]
    return {
        "top": set(data), "layer": set(data["layers"][0]), "compute": set(data["compute"]),
        "totals": set(data["compute"]["totals"]), "by_op": set(data["compute"]["by_op"][0]),
        "coverage": set(data["compute"]["coverage"]), "memory": set(m), "peak_at": set(m["peak_at"]),
        "memory.modules": set(m["modules"][0]), "assumption": set(m["assumptions"][0]),
        "kv_cache": set(data["kv_cache"]), "per_layer": set(data["kv_cache"]["per_layer"][0]),
        "units": set(data["units"]), "figures": set(data["compute"]["totals"]["total"]),
    }


def test_every_key_is_documented_and_every_documented_key_exists(profiles):
    doc = DOC.read_text()
    keys = _keys(profiles["training"].to_dict())
    for where, names in keys.items():
        missing = sorted(k for k in names if f"`{k}`" not in doc)
        assert not missing, f"{where} keys not in docs/json-schema.md: {missing}"
    documented = set(re.findall(r"^\| `([a-z_]+)` \|", doc, re.M))
    known = set().union(*keys.values())
    assert documented, "the doc's key tables were not found"
    assert not documented - known, f"documented but not written: {sorted(documented - known)}"
    assert f'"{SCHEMA_VERSION}"' in doc or f"schema {SCHEMA_VERSION}" in doc


BLOCK_TORCH = """
import importlib.abc, sys, types
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ImportError("torch is blocked in this test: " + name)
sys.meta_path.insert(0, Block())
"""


def test_report_and_schema_code_never_import_torch(tmp_path, profiles):
    """The package's __init__ imports torch (netcensus.profile() needs it), so this loads netcensus as
    a bare namespace to check that everything `show` runs (schema, profile, report) is torch-free."""
    path = tmp_path / "p.json"
    profiles["training"].save(str(path))
    code = BLOCK_TORCH + f"""
pkg = types.ModuleType("netcensus"); pkg.__path__ = [{str(ROOT / 'src' / 'netcensus')!r}]
pkg.__version__ = "test"
sys.modules["netcensus"] = pkg
from netcensus.cli import run as cli_run
def main_show(argv):
    return cli_run(["show", *argv])
for fmt in ("table", "md", "csv", "html", "json"):
    assert main_show([{str(path)!r}, "--format", fmt, "--output", {str(tmp_path)!r} + "/out." + fmt]) == 0
assert main_show([{str(path)!r}, "--explain"]) == 0
assert main_show([{str(path)!r}, "--by-op"]) == 0
assert not [m for m in sys.modules if m == "torch" or m.startswith("torch.")]
"""
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert "TinyTransformer" in (tmp_path / "out.table").read_text()
    assert (tmp_path / "out.html").read_text().startswith("<!DOCTYPE html>")


def test_python_m_netcensus_show_runs_without_torch(tmp_path, profiles):
    path = tmp_path / "p.json"
    profiles["inference"].save(str(path))
    code = BLOCK_TORCH + f"""
import runpy
sys.argv = ["netcensus", "show", {str(path)!r}, "--format", "md"]
runpy.run_module("netcensus", run_name="__main__")
"""
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert "| Total params | 46,764,746 |" in run.stdout
