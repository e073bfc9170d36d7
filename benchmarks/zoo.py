"""The models the benchmarks time, built on a device of the caller's choice.

Each entry builds one model and its inputs; ``build(name, device)`` returns ``(model, args, kwargs)``.
On ``device="meta"`` nothing is allocated (what netcensus and the plain meta forward use); on ``"cpu"``
the weights and inputs are real (what tools that need real tensors use).

* ``resnet50``: the ResNet-50 bottleneck architecture written here (torchvision is not a dependency):
  25,557,032 parameters, as torchvision's ``resnet50()``; batch 1 and batch 64 at 3x224x224.
* ``alexnet``: the tutorial notebook's AlexNet (``netcensus.examples.alexnet``), 1x1x224x224.
* ``vit_b16``, ``bert_base``, ``gpt2``: transformers' default configs (ViT-B/16 at 224, BERT-base at
  sequence 512, GPT-2 small at 1024), built from the config classes: no weights are downloaded.
* ``llama7b``, ``llama70b``: Llama-7B-shaped (32 layers, hidden 4096, MLP 11008, 32 heads, vocab 32,000)
  and Llama-3-70B-shaped (80 layers, hidden 8192, MLP 28672, 64 heads, 8 KV heads, vocab 128,256)
  ``LlamaForCausalLM`` at sequence 4096.
* ``lstm``: a two-layer LSTM language model (vocab 32,000, embedding and hidden 1024), 8x256 tokens.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

# -- ResNet-50 -------------------------------------------------------------------------------------


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


class ResNet50(nn.Module):
    """ResNet-50 (He et al. 2015, v1.5: stride on the 3x3 conv), torchvision's layout and names."""

    def __init__(self, num_classes: int = 1000):
        super().__init__()
        self.inplanes = 64
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        self.layer1 = self._layer(64, 3)
        self.layer2 = self._layer(128, 4, stride=2)
        self.layer3 = self._layer(256, 6, stride=2)
        self.layer4 = self._layer(512, 3, stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(2048, num_classes)

    def _layer(self, planes: int, blocks: int, stride: int = 1) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes * 4:
            downsample = nn.Sequential(nn.Conv2d(self.inplanes, planes * 4, 1, stride=stride, bias=False),
                                       nn.BatchNorm2d(planes * 4))
        layers = [Bottleneck(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * 4
        layers += [Bottleneck(self.inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


# -- LSTM ------------------------------------------------------------------------------------------


class LSTMLanguageModel(nn.Module):
    def __init__(self, vocab: int = 32000, dim: int = 1024, layers: int = 2):
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.lstm = nn.LSTM(dim, dim, num_layers=layers, batch_first=True)
        self.head = nn.Linear(dim, vocab)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(self.embed(ids))
        return self.head(out)


# -- transformers ----------------------------------------------------------------------------------


def llama_config(layers: int, hidden: int, intermediate: int, heads: int, kv_heads: int, vocab: int,
                 positions: int = 8192) -> Any:
    from transformers import LlamaConfig

    return LlamaConfig(hidden_size=hidden, intermediate_size=intermediate, num_hidden_layers=layers,
                       num_attention_heads=heads, num_key_value_heads=kv_heads, vocab_size=vocab,
                       max_position_embeddings=positions)


def _hf(kind: str) -> nn.Module:
    import transformers as tf

    if kind == "vit_b16":
        return tf.ViTModel(tf.ViTConfig())
    if kind == "bert_base":
        return tf.BertModel(tf.BertConfig())
    if kind == "gpt2":
        return tf.GPT2LMHeadModel(tf.GPT2Config())
    if kind == "llama7b":
        return tf.LlamaForCausalLM(llama_config(32, 4096, 11008, 32, 32, 32000))
    if kind == "llama70b":
        return tf.LlamaForCausalLM(llama_config(80, 8192, 28672, 64, 8, 128256))
    raise KeyError(kind)


# -- the table -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    name: str
    label: str
    make: Callable[[], nn.Module]
    inputs: dict[str, tuple[tuple[int, ...], torch.dtype]]
    """Input name -> (shape, dtype); the name ``"x"`` is passed positionally."""
    params: int
    """The parameter count (tests/test_benchmarks.py checks it against the model), used to size
    real-weight runs without building the model."""
    transformers: bool = False


def _ints(shape: tuple[int, ...]) -> tuple[tuple[int, ...], torch.dtype]:
    return shape, torch.long


MODELS: dict[str, Entry] = {e.name: e for e in [
    Entry("resnet50", "ResNet-50-like, 1x3x224x224", ResNet50,
          {"x": ((1, 3, 224, 224), torch.float32)}, 25_557_032),
    Entry("resnet50_b64", "ResNet-50-like, 64x3x224x224", ResNet50,
          {"x": ((64, 3, 224, 224), torch.float32)}, 25_557_032),
    Entry("alexnet", "AlexNet (notebook), 1x1x224x224", lambda: _alexnet(),
          {"x": ((1, 1, 224, 224), torch.float32)}, 46_764_746),
    Entry("vit_b16", "ViT-B/16, 1x3x224x224", lambda: _hf("vit_b16"),
          {"pixel_values": ((1, 3, 224, 224), torch.float32)}, 86_389_248, True),
    Entry("bert_base", "BERT-base, 1x512 tokens", lambda: _hf("bert_base"),
          {"input_ids": _ints((1, 512))}, 109_482_240, True),
    Entry("gpt2", "GPT-2 (124M), 1x1024 tokens", lambda: _hf("gpt2"),
          {"input_ids": _ints((1, 1024))}, 124_439_808, True),
    Entry("llama7b", "Llama-7B-shaped, 1x4096 tokens", lambda: _hf("llama7b"),
          {"input_ids": _ints((1, 4096))}, 6_738_415_616, True),
    Entry("llama70b", "Llama-3-70B-shaped, 1x4096 tokens", lambda: _hf("llama70b"),
          {"input_ids": _ints((1, 4096))}, 70_553_706_496, True),
    Entry("lstm", "LSTM LM (2x1024), 8x256 tokens", LSTMLanguageModel,
          {"x": _ints((8, 256))}, 82_361_600),
]}


def _alexnet() -> nn.Module:
    from netcensus.examples import alexnet

    return alexnet()


def build(name: str, device: str = "meta") -> tuple[nn.Module, tuple[Any, ...], dict[str, Any]]:
    """The model (eval mode) and its inputs on ``device``: zeros, so integer inputs are valid ids."""
    entry = MODELS[name]
    with torch.device(device):
        model = entry.make().eval()
    args: list[Any] = []
    kwargs: dict[str, Any] = {}
    for key, (shape, dtype) in entry.inputs.items():
        t = torch.zeros(shape, dtype=dtype, device=device)
        if key == "x":
            args.append(t)
        else:
            kwargs[key] = t
    return model, tuple(args), kwargs


def param_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def real_weight_gib(name: str) -> float:
    """GiB of float32 weights a real-tensor run of ``name`` would allocate."""
    return MODELS[name].params * 4 / 2**30


def fmt_gib(x: float) -> str:
    return f"{x:.0f}" if x >= 10 else f"{math.ceil(x * 10) / 10:.1f}"
