"""torch.save checkpoints: a parameter census read with weights_only, never executing the file."""

from __future__ import annotations

import os
import pickle
from collections import OrderedDict

import pytest
import torch
from torch import nn

from netcensus.errors import ModelLoadError
from netcensus.load import load


class Tied(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(50, 8)
        self.norm = nn.BatchNorm1d(8)
        self.head = nn.Linear(8, 50, bias=False)
        self.head.weight = self.embed.weight


def unique_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())  # parameters() yields a tied tensor once


def test_state_dict_census_matches_the_model(tmp_path):
    model = Tied().to(torch.bfloat16)
    path = tmp_path / "model.pt"
    torch.save(model.state_dict(), path)
    loaded = load(str(path))
    assert loaded.model is None and loaded.inputs is None and loaded.source == "checkpoint"
    sd = model.state_dict()
    assert [t.name for t in loaded.tensors] == list(sd)
    for info in loaded.tensors:
        assert info.shape == tuple(sd[info.name].shape)
        assert info.dtype == str(sd[info.name].dtype).removeprefix("torch.")
        assert info.nbytes == sd[info.name].numel() * sd[info.name].element_size()
    assert ("embed.weight", "head.weight") in loaded.tied
    buffers = sum(b.numel() for b in model.buffers())  # BatchNorm running stats and counter
    assert loaded.total_elements == unique_params(model) + buffers
    # embed 50*8 + norm 2*8 weights in bf16 (2 B); running mean/var 2*8 bf16; num_batches_tracked int64 (8 B)
    assert loaded.total_bytes == (50 * 8 + 2 * 8) * 2 + 2 * 8 * 2 + 8
    assert loaded.bytes_by_dtype() == {"bfloat16": (50 * 8 + 4 * 8) * 2, "int64": 8}


def test_legacy_format_and_nested_checkpoint(tmp_path):
    model = nn.Linear(3, 4)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model(torch.randn(2, 3)).sum().backward()
    optimizer.step()
    path = tmp_path / "train.ckpt"
    torch.save({"epoch": 3, "state_dict": model.state_dict(), "optimizer": optimizer.state_dict()}, path,
               _use_new_zipfile_serialization=False)
    loaded = load(str(path))
    names = [t.name for t in loaded.tensors]
    assert names[:2] == ["state_dict.weight", "state_dict.bias"]
    assert "optimizer.state.0.momentum_buffer" in names
    assert any("legacy format" in n for n in loaded.notes)
    assert any("epoch (int)" in n for n in loaded.notes)
    assert any("state_dict 2" in n for n in loaded.notes)


def test_plain_ordered_dict_of_tensors(tmp_path):
    path = tmp_path / "weights.bin"
    torch.save(OrderedDict(a=torch.zeros(2, 3), b=torch.zeros(5, dtype=torch.float16)), path)
    loaded = load(str(path))
    assert [(t.name, t.shape, t.dtype, t.nbytes) for t in loaded.tensors] == [
        ("a", (2, 3), "float32", 24), ("b", (5,), "float16", 10)]


class Evil:
    marker = ""

    def __reduce__(self):
        return (os.system, (f"touch {Evil.marker}",))


@pytest.mark.parametrize("writer", ["torch.save", "torch.save legacy", "pickle.dump"])
def test_code_running_pickle_is_refused_unexecuted(tmp_path, writer):
    Evil.marker = str(tmp_path / "PWNED")
    path = tmp_path / "evil.pt"
    if writer == "pickle.dump":
        with open(path, "wb") as f:
            pickle.dump({"w": Evil()}, f)
    else:
        torch.save({"w": torch.zeros(2), "x": Evil()}, path,
                   _use_new_zipfile_serialization=writer == "torch.save")
    with pytest.raises(ModelLoadError, match="refused") as info:
        load(str(path))
    assert "weights_only=True" in str(info.value) and "evil.pt" in str(info.value)
    assert not os.path.exists(Evil.marker)


def test_whole_pickled_module_is_refused_with_a_fix(tmp_path):
    path = tmp_path / "whole.pth"
    torch.save(nn.Linear(2, 2), path)
    with pytest.raises(ModelLoadError) as info:
        load(str(path))
    assert "state_dict()" in info.value.fix and "pkg.module:Class" in info.value.fix


def test_truncated_and_garbage_files(tmp_path):
    full = tmp_path / "full.pt"
    torch.save({"w": torch.zeros(100)}, full)
    cut = tmp_path / "cut.pt"
    cut.write_bytes(full.read_bytes()[:300])
    with pytest.raises(ModelLoadError, match="truncated or corrupt") as info:
        load(str(cut))
    assert "cut.pt" in str(info.value)
    legacy = tmp_path / "legacy.pt"
    torch.save({"w": torch.zeros(100)}, legacy, _use_new_zipfile_serialization=False)
    short = tmp_path / "short.pt"
    short.write_bytes(legacy.read_bytes()[:20])
    with pytest.raises(ModelLoadError, match="short.pt"):
        load(str(short))
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"this is not a checkpoint at all")
    with pytest.raises(ModelLoadError, match="match no PyTorch or safetensors format"):
        load(str(garbage))
    empty = tmp_path / "empty.pt"
    empty.write_bytes(b"")
    with pytest.raises(ModelLoadError, match="empty"):
        load(str(empty))
