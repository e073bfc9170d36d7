"""torchvision: and timm: sources. Each library is optional: its tests skip when it does not import,
and the missing-package error is checked instead."""

from __future__ import annotations

import importlib.util

import pytest
import torch

from netcensus.errors import ModelLoadError, SpecError
from netcensus.load import load


def importable(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None and bool(__import__(name))
    except Exception:
        return False


HAS_TORCHVISION = importable("torchvision")
HAS_TIMM = importable("timm")
needs_torchvision = pytest.mark.skipif(not HAS_TORCHVISION, reason="torchvision is not importable")
needs_timm = pytest.mark.skipif(not HAS_TIMM, reason="timm is not importable")


@pytest.mark.parametrize("prefix,present", [("torchvision", HAS_TORCHVISION), ("timm", HAS_TIMM)])
def test_missing_library_names_the_extra(prefix, present):
    if present:
        pytest.skip(f"{prefix} is installed")
    with pytest.raises(ModelLoadError) as info:
        load(f"{prefix}:resnet50")
    assert "pip install 'netcensus[vision]'" in info.value.fix
    assert prefix in info.value.what


@needs_torchvision
def test_torchvision_resnet50_on_meta():
    loaded = load("torchvision:resnet50", batch=2)
    assert sum(p.numel() for p in loaded.model.parameters()) == 25_557_032  # torchvision's published count
    assert {p.device.type for p in loaded.model.parameters()} == {"meta"}
    (x,), kwargs = loaded.inputs
    assert x.shape == (2, 3, 224, 224) and kwargs == {}


@needs_torchvision
def test_torchvision_kwargs_and_refused_weights():
    loaded = load("torchvision:resnet18", kwargs={"num_classes": "10"})
    assert loaded.model.fc.out_features == 10
    # resnet18: 11,689,512 with 1000 classes; the head shrinks by 512*990 + 990
    assert sum(p.numel() for p in loaded.model.parameters()) == 11_689_512 - (512 * 990 + 990)
    with pytest.raises(SpecError, match="download"):
        load("torchvision:resnet18", kwargs={"weights": "DEFAULT"})
    with pytest.raises(ModelLoadError, match="resnet50"):
        load("torchvision:resnet5")  # a close match is suggested


@needs_torchvision
def test_torchvision_inception_input_size():
    (x,), _ = load("torchvision:inception_v3", kwargs={"init_weights": "False", "aux_logits": "False"}).inputs
    assert x.shape == (1, 3, 299, 299)


@needs_timm
def test_timm_vit_on_meta():
    loaded = load("timm:vit_base_patch16_224")
    assert sum(p.numel() for p in loaded.model.parameters()) == 86_567_656  # ViT-B/16, published
    (x,), _ = loaded.inputs
    assert x.shape == (1, 3, 224, 224) and x.device.type == "meta"
    with pytest.raises(SpecError, match="download"):
        load("timm:vit_base_patch16_224", kwargs={"pretrained": "true"})


@needs_timm
def test_timm_kwargs():
    loaded = load("timm:resnet18", kwargs={"num_classes": "10"})
    assert loaded.model.get_classifier().out_features == 10
    assert isinstance(loaded.inputs[0][0], torch.Tensor)
