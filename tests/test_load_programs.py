"""Saved programs: TorchScript files and torch.export .pt2 archives written by the tests, then profiled."""

from __future__ import annotations

import io
import os
import zipfile

import pytest
import torch
from torch import nn

import netcensus
from netcensus.errors import ModelLoadError
from netcensus.load import load

# torch deprecates TorchScript in favour of torch.export; the files still exist and netcensus reads them.
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit:DeprecationWarning")

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3)
        self.fc = nn.Linear(8, 10)

    def forward(self, x):
        return self.fc(torch.relu(self.conv(x)).mean((2, 3)))


# conv: 3*8*3*3 + 8 = 224; fc: 8*10 + 10 = 90
NET_PARAMS = 224 + 90
# on 2x3x16x16: conv 2*8*14*14 outputs * 27 MACs = 84,672; fc 2*8*10 = 160
NET_CORE_MACS = 2 * 8 * 14 * 14 * 27 + 2 * 8 * 10


@pytest.fixture
def net():
    torch.manual_seed(0)
    return Net().eval()


def test_torchscript_file_is_profiled(tmp_path, net):
    path = tmp_path / "net.pt"
    torch.jit.save(torch.jit.script(net), str(path))
    loaded = load(str(path))
    assert loaded.source == "torchscript" and loaded.inputs is None
    assert "TorchScript Net" in loaded.description
    assert any("map_location='meta'" in n for n in loaded.notes)
    names = dict(loaded.model.named_parameters())
    assert sorted(names) == ["conv.bias", "conv.weight", "fc.bias", "fc.weight"]
    assert {p.device.type for p in names.values()} == {"meta"}
    p = netcensus.profile(loaded.model, input_size=(2, 3, 16, 16))
    assert p.total_params == NET_PARAMS
    assert p.layer("conv").params == 224 and p.layer("fc").params == 90
    assert p.layers[0].output_shapes[0] == (2, 10)
    assert p.core_macs == NET_CORE_MACS


def test_torchscript_on_cpu_runs_for_real(tmp_path, net):
    path = tmp_path / "net.pt"
    torch.jit.save(torch.jit.script(net), str(path))
    loaded = load(str(path), device="cpu")
    x = torch.randn(1, 3, 16, 16)
    torch.testing.assert_close(loaded.model(x), net(x))  # the same program, the same weights


def test_exported_program_is_unflattened_with_its_inputs(tmp_path, net):
    path = tmp_path / "net.pt2"
    torch.export.save(torch.export.export(net, (torch.randn(2, 3, 16, 16),)), str(path))
    loaded = load(str(path))
    assert loaded.source == "export"
    args, kwargs = loaded.inputs
    assert kwargs == {} and args[0].shape == (2, 3, 16, 16) and args[0].device.type == "meta"
    p = netcensus.profile(loaded.model, inputs=args)
    assert p.total_params == NET_PARAMS
    assert p.layer("conv").output_shapes[0] == (2, 8, 14, 14)  # rows per layer: the tree was restored
    assert p.layer("fc").input_shapes[0] == (2, 8)
    assert p.core_macs == NET_CORE_MACS


def test_exported_program_keeps_keyword_example_inputs(tmp_path):
    class Scaled(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 2)

        def forward(self, x, *, scale: float = 1.0):
            return self.fc(x) * scale

    path = tmp_path / "scaled.pt2"
    torch.export.save(torch.export.export(Scaled(), (torch.randn(3, 4),), {"scale": 2.0}), str(path))
    args, kwargs = load(str(path)).inputs
    assert args[0].shape == (3, 4) and kwargs == {"scale": 2.0}


class Evil:
    def __reduce__(self):
        return (os.system, (f"touch {Evil.marker}",))


def test_pt2_with_a_code_running_pickle_is_refused_unexecuted(tmp_path, net):
    good = tmp_path / "good.pt2"
    torch.export.save(torch.export.export(net, (torch.randn(1, 3, 8, 8),)), str(good))
    Evil.marker = str(tmp_path / "PWNED")
    payload = io.BytesIO()
    torch.save(((Evil(),), {}), payload)
    bad = tmp_path / "bad.pt2"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(bad, "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            if "/data/sample_inputs/" in item.filename:
                data = payload.getvalue()
            dst.writestr(item, data)
    with pytest.raises(ModelLoadError, match="refused") as info:
        load(str(bad))
    assert "sample_inputs" in str(info.value) and "system" in str(info.value)
    assert not os.path.exists(Evil.marker)


def test_truncated_program_is_a_clear_error(tmp_path, net):
    path = tmp_path / "net.pt"
    torch.jit.save(torch.jit.script(net), str(path))
    cut = tmp_path / "cut.pt"
    cut.write_bytes(path.read_bytes()[:200])
    with pytest.raises(ModelLoadError, match="truncated or corrupt") as info:
        load(str(cut))
    assert "cut.pt" in str(info.value)
