"""Routing a spec to its source, and the errors for specs that name nothing."""

from __future__ import annotations

import pytest
import torch

from netcensus.errors import ModelLoadError, SpecError
from netcensus.load import Loaded, TensorInfo, load


def test_missing_model_file_is_named(tmp_path):
    for name in ("model.safetensors", "ckpt.pt", "program.pt2", "pytorch_model.bin.index.json"):
        with pytest.raises(ModelLoadError, match="no such file"):
            load(str(tmp_path / name))


def test_not_a_spec():
    with pytest.raises(SpecError, match="not a model spec") as info:
        load("just-a-word")
    assert "hf:ORG/NAME" in info.value.fix
    with pytest.raises(SpecError, match="no model spec"):
        load("  ")


def test_python_file_without_attribute(tmp_path):
    path = tmp_path / "net.py"
    path.write_text("import torch\n")
    with pytest.raises(SpecError, match="name the model in it") as info:
        load(str(path))
    assert f"{path}:Name" in info.value.fix


def test_directory_without_config(tmp_path):
    with pytest.raises(ModelLoadError, match="without config.json"):
        load(str(tmp_path))


def test_arguments_do_not_apply_to_files(tmp_path):
    path = tmp_path / "w.pt"
    torch.save({"w": torch.zeros(2)}, path)
    with pytest.raises(SpecError, match="do not apply to a saved file"):
        load(str(path), kwargs={"a": "1"})


def test_overrides_only_for_hf():
    with pytest.raises(SpecError, match="hf: models only"):
        load("netcensus.examples:alexnet", overrides={"hidden_size": "8"})
    with pytest.raises(SpecError, match="hf: models only"):
        load("timm:resnet50", overrides={"x": "1"})


@pytest.mark.parametrize("kwargs,match", [({"batch": 0}, "batch"), ({"seq": -1}, "seq"),
                                          ({"batch": True}, "batch"),
                                          ({"device": "nonsense"}, "unknown device")])
def test_bad_options(kwargs, match):
    with pytest.raises(SpecError, match=match):
        load("netcensus.examples:alexnet", **kwargs)


def test_loaded_totals_count_a_tied_group_once():
    tensors = (TensorInfo("a", (2, 3), "float32", 24), TensorInfo("b", (2, 3), "float32", 24),
               TensorInfo("c", (4,), "int8", 4))
    loaded = Loaded(None, None, "x", tensors=tensors, tied=(("a", "b"),))
    assert loaded.total_elements == 6 + 4 and loaded.total_bytes == 24 + 4
    assert loaded.bytes_by_dtype() == {"float32": 24, "int8": 4}
    assert Loaded(torch.nn.Linear(1, 1), None, "m").total_elements is None
