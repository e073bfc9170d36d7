"""Python sources: ``file.py:attr`` and ``pkg.module:attr`` with arguments read as literals."""

from __future__ import annotations

import textwrap

import pytest
import torch

from netcensus.errors import ModelLoadError, SpecError
from netcensus.load import load, parse_value, split_pairs

NET = textwrap.dedent("""
    import torch
    from torch import nn

    BUILT = []

    class Net(nn.Module):
        def __init__(self, width, num_classes=2, kernel=(3, 3), act="relu"):
            super().__init__()
            BUILT.append((width, num_classes, kernel, act))
            self.conv = nn.Conv2d(3, width, kernel)
            self.fc = nn.Linear(width, num_classes)

        def forward(self, x):
            return self.fc(self.conv(x).mean((2, 3)))

    def make(depth: int, bias: bool = True):
        return nn.Sequential(*[nn.Linear(4, 4, bias=bias) for _ in range(depth)])

    instance = nn.Linear(5, 7)
    not_a_model = 42

    class Plain:
        pass
""")


@pytest.fixture
def netfile(tmp_path):
    path = tmp_path / "mynet.py"
    path.write_text(NET)
    return str(path)


def test_class_with_positional_and_keyword_literals(netfile):
    loaded = load(f"{netfile}:Net", args=["16"],
                  kwargs={"num_classes": "10", "kernel": "(5, 5)", "act": "gelu"})
    model = loaded.model
    # conv: 3*16*5*5 + 16 = 1216; fc: 16*10 + 10 = 170
    assert sum(p.numel() for p in model.parameters()) == 1216 + 170
    assert model.conv.kernel_size == (5, 5)
    assert all(p.device.type == "meta" for p in model.parameters())
    assert loaded.inputs is None and loaded.tensors is None and loaded.source == "python"
    assert "Net(16, num_classes=10, kernel=(5, 5), act='gelu')" in loaded.description
    import sys

    module = sys.modules["_netcensus_user_mynet"]
    assert module.BUILT[-1] == (16, 10, (5, 5), "gelu")  # literals, and a bare word stays a string


def test_factory_with_bool_words_and_cpu_device(netfile):
    loaded = load(f"{netfile}:make", args=["3"], kwargs={"bias": "false"}, device="cpu")
    assert len(loaded.model) == 3
    assert all(m.bias is None for m in loaded.model)
    assert next(loaded.model.parameters()).device.type == "cpu"
    assert sum(p.numel() for p in loaded.model.parameters()) == 3 * 16


def test_module_spec_of_installed_package():
    loaded = load("netcensus.examples:alexnet")
    assert sum(p.numel() for p in loaded.model.parameters()) == 46_764_746  # the notebook's true count
    assert next(loaded.model.parameters()).device.type == "meta"


def test_instance_used_as_is_and_refuses_arguments(netfile):
    loaded = load(f"{netfile}:instance")
    assert isinstance(loaded.model, torch.nn.Linear) and loaded.model.out_features == 7
    assert any("cpu" in n for n in loaded.notes)  # built at import: its tensors are real
    with pytest.raises(SpecError, match="instance"):
        load(f"{netfile}:instance", args=["1"])


@pytest.mark.parametrize("attr,match", [("missing", "no attribute 'missing'"),
                                        ("not_a_model", "int, not a model"),
                                        ("Plain", "not a torch.nn.Module subclass")])
def test_bad_attributes(netfile, attr, match):
    with pytest.raises(ModelLoadError, match=match):
        load(f"{netfile}:{attr}")


def test_call_error_shows_the_signature(netfile):
    with pytest.raises(ModelLoadError) as info:
        load(f"{netfile}:Net")  # width is required
    assert "TypeError" in info.value.what
    assert "Net(width, num_classes=2" in info.value.fix


def test_missing_file_and_module():
    with pytest.raises(ModelLoadError, match="no such file"):
        load("does/not/exist.py:Net")
    with pytest.raises(ModelLoadError, match="cannot import"):
        load("no_such_package_xyz.models:Net")


def test_bad_keyword_name(netfile):
    with pytest.raises(SpecError, match="not a valid Python identifier"):
        load(f"{netfile}:Net", kwargs={"num-classes": "3"})


@pytest.mark.parametrize("text,value", [
    ("3", 3), ("-2.5", -2.5), ("(3, 3)", (3, 3)), ("[1, 2]", [1, 2]), ("'x'", "x"), ("True", True),
    ("true", True), ("FALSE", False), ("none", None), ("null", None), ("relu", "relu"),
    ("bfloat16", "bfloat16"),
    ("1e-5", 1e-5), ("__import__('os')", "__import__('os')"), ("{'a': 1}", {"a": 1}),
])
def test_parse_value(text, value):
    assert parse_value(text) == value and type(parse_value(text)) is type(value)


def test_split_pairs():
    assert split_pairs(["a=1", "b=x=y", "a=2"]) == {"a": "2", "b": "x=y"}
    with pytest.raises(SpecError, match="NAME=VALUE"):
        split_pairs(["novalue"])
