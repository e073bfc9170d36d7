"""The parameter census of a safetensors file: parameters apart from buffers, grouped to --depth, repeated
blocks collapsed. Oracle: the module's own sum(p.numel()) and sum(b.numel())."""

from __future__ import annotations

import json

import torch
from torch import nn

from netcensus.cli import run

CODES = {torch.float32: "F32", torch.int64: "I64"}


def _write_safetensors(path, state: dict[str, torch.Tensor]) -> None:
    """A safetensors file with ``state``'s names, shapes and dtypes (the data are zeros: the census reads the
    header only)."""
    header, offset = {}, 0
    for name, t in state.items():
        size = t.numel() * t.element_size()
        header[name] = {"dtype": CODES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + size]}
        offset += size
    raw = json.dumps(header).encode()
    path.write_bytes(len(raw).to_bytes(8, "little") + raw + bytes(offset))


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(8, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)


def _cnn() -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.Sequential(*[Block() for _ in range(12)]),
                         nn.Flatten(), nn.Linear(8, 10))


def test_running_statistics_are_buffers_not_parameters(tmp_path, capsys):
    model = _cnn()
    path = tmp_path / "cnn.safetensors"
    _write_safetensors(path, model.state_dict())
    assert run([str(path), "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["parameter_elements"] == sum(p.numel() for p in model.parameters())
    assert data["buffer_elements"] == sum(b.numel() for b in model.buffers())
    assert data["total_elements"] == data["parameter_elements"] + data["buffer_elements"]
    assert run([str(path)]) == 0
    out = capsys.readouterr().out
    assert f"Parameters: {sum(p.numel() for p in model.parameters()):,} elements" in out
    assert "running_mean (buffer)" in out


def test_depth_groups_and_repeated_blocks_collapse(tmp_path, capsys):
    model = _cnn()
    path = tmp_path / "cnn.safetensors"
    _write_safetensors(path, model.state_dict())
    assert run([str(path), "--depth", "1"]) == 0
    shallow = capsys.readouterr().out
    assert "2.0" not in shallow and "12 tensors" not in shallow
    block = (8 * 8 * 9 + 8) + (8 + 8 + 8 + 8 + 1)  # conv weight + bias; bn weight, bias, mean, var, count
    assert f"{12 * block:,}" in shallow  # the whole stack at depth 1: 12 blocks
    assert run([str(path), "--depth", "2"]) == 0
    deeper = capsys.readouterr().out
    assert "2.0-11 x12" in deeper  # twelve identical blocks, one row
    assert run([str(path), "--all"]) == 0
    assert "2.0.conv.weight" in capsys.readouterr().out
