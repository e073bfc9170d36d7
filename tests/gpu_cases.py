"""The cases measured on a real GPU, copied so that tests can build them on meta without /work/shared.

Source: ``gpu-truth/cases.py`` of the shared ground-truth folder (the cases measured on one NVIDIA H200,
2026-12-04, PyTorch 2.11.0+cu130, cuDNN 9.19, transformers 5.17; the figures themselves are copied where
a test uses them, with that provenance). The models, inputs and steps are the same; only the interface
is made for netcensus:

    case = CASES_BY_NAME["gpt2-b8s1024-train-bf16mixed-adam"]
    built = build(case)          # a Built: model on meta, inputs on meta (integer ones real), and how the step runs
    p = netcensus.profile(built.model, inputs=built.inputs, train=built.train,
                          precision=built.precision, optimizer=built.optimizer)

``build`` needs transformers for the Hugging Face cases: call :func:`needs_transformers` first (it says
whether the case can be built here). Every case maps to
``(model factory, inputs on meta (integer ones real, on CPU), train, precision, optimizer spec, grad_checkpointing)``:

* precision: "fp32"; "bf16" = weights converted to bf16 (``model.to(torch.bfloat16)``, floating inputs
  too), traced with ``precision="bf16"``; "bf16-mixed"/"fp16-mixed" = autocast, fp32 weights.
* optimizer: "adam" (torch's default, foreach on CUDA), "adam-fused" (``fused=True``), "adamw",
  "sgd-momentum" (lr=0.01, momentum=0.9); given as a :class:`netcensus.options.OptimizerSpec`.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class Case:
    name: str
    model: str  # key of MODELS
    inputs: str  # key of INPUTS
    train: bool
    precision: str  # fp32 | bf16-mixed | fp16-mixed | bf16 (weights and inputs in bf16)
    optimizer: str | None = None  # adam | adam-fused | adamw | sgd-momentum
    grad_checkpointing: bool = False  # transformers' gradient_checkpointing_enable()
    model_kw: dict[str, Any] = field(default_factory=dict)

    @property
    def transformers(self) -> bool:
        return self.model in HF_MODELS


# ---- plain torch models (as in gpu-truth/cases.py) -------------------------------------------------


class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.down = None
        if stride != 1 or cin != cout:
            self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return F.relu(y + (x if self.down is None else self.down(x)))


class ConvNet(nn.Module):
    """A ResNet-18-shaped network written with plain torch.nn."""

    def __init__(self, classes: int = 1000):
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(3, 2, 1)
        )
        blocks, cin = [], 64
        for cout, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
            blocks += [BasicBlock(cin, cout, stride), BasicBlock(cout, cout, 1)]
            cin = cout
        self.blocks = nn.Sequential(*blocks)
        self.head = nn.Linear(512, classes)

    def forward(self, x):
        return self.head(torch.flatten(F.adaptive_avg_pool2d(self.blocks(self.stem(x)), 1), 1))


class Encoder(nn.Module):
    """nn.TransformerEncoder (nn.MultiheadAttention inside), BERT-base sized, with a classifier."""

    def __init__(self, dropout: float = 0.1, d: int = 768, layers: int = 12):
        super().__init__()
        layer = nn.TransformerEncoderLayer(d, 12, 4 * d, dropout=dropout, batch_first=True, norm_first=True)
        self.enc = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.head = nn.Linear(d, 2)

    def forward(self, x):
        return self.head(self.enc(x)[:, 0])


class LSTMTagger(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(1024, 1024, num_layers=2, batch_first=True)
        self.head = nn.Linear(1024, 64)

    def forward(self, x):
        return self.head(self.lstm(x)[0])


def _hf(kind: str, **cfg: Any) -> Callable[[], nn.Module]:
    def make():
        import transformers as T

        config_cls, model_cls = {
            "gpt2": (T.GPT2Config, T.GPT2LMHeadModel),
            "bert": (T.BertConfig, T.BertForMaskedLM),
            "llama": (T.LlamaConfig, T.LlamaForCausalLM),
            "vit": (T.ViTConfig, T.ViTForImageClassification),
            "t5": (T.T5Config, T.T5ForConditionalGeneration),
        }[kind]
        return model_cls(config_cls(**cfg))

    return make


LLAMA_1B = dict(
    hidden_size=2048,
    intermediate_size=5632,
    num_hidden_layers=22,
    num_attention_heads=32,
    num_key_value_heads=4,
    vocab_size=32000,
    max_position_embeddings=4096,
)
T5_SMALL = dict(
    d_model=512,
    d_ff=2048,
    num_layers=6,
    num_heads=8,
    vocab_size=32128,
    decoder_start_token_id=0,
    pad_token_id=0,
)

MODELS: dict[str, Callable[[], nn.Module]] = {
    "convnet": ConvNet,
    "encoder": Encoder,
    "encoder-nodrop": lambda: Encoder(dropout=0.0),
    "lstm": LSTMTagger,
    "mlp": lambda: nn.Sequential(
        nn.Linear(4096, 8192), nn.GELU(), nn.Linear(8192, 8192), nn.GELU(), nn.Linear(8192, 1000)
    ),
    "gpt2": _hf("gpt2"),  # 124M, dropout 0.1 everywhere (the defaults)
    "gpt2-nodrop": _hf("gpt2", attn_pdrop=0.0, resid_pdrop=0.0, embd_pdrop=0.0),
    "gpt2-nocache": _hf("gpt2", use_cache=False),
    "bert": _hf("bert"),  # bert-base, dropout 0.1
    "vit": _hf("vit"),  # ViT-B/16 224, dropout 0
    "llama-1b": _hf("llama", **LLAMA_1B),
    "llama-1b-nocache": _hf("llama", use_cache=False, **LLAMA_1B),
    "t5-small": _hf("t5", **T5_SMALL),
}
LLAMA_3B = dict(
    hidden_size=3072,
    intermediate_size=8192,
    num_hidden_layers=28,
    num_attention_heads=24,
    num_key_value_heads=8,
    vocab_size=128256,
    max_position_embeddings=8192,
)
MODELS.update(
    {  # models of EXTRA_CASES (measured later, see there)
        "llama-3b": _hf("llama", **LLAMA_3B),
        "gpt2-medium": _hf("gpt2", n_embd=1024, n_layer=24, n_head=16),
        "encoder-1536x8": lambda: Encoder(d=1536, layers=8),
    }
)
HF_MODELS = frozenset(
    {
        "gpt2",
        "gpt2-nodrop",
        "gpt2-nocache",
        "bert",
        "vit",
        "llama-1b",
        "llama-1b-nocache",
        "t5-small",
        "llama-3b",
        "gpt2-medium",
    }
)


def _ids(b: int, s: int, vocab: int, labels: bool = True, mask_pad: int = 0):
    def make():
        g = torch.Generator().manual_seed(0)
        x = torch.randint(0, vocab, (b, s), generator=g)
        out: dict[str, torch.Tensor] = {"input_ids": x}
        if labels:
            out["labels"] = x.clone()
        if mask_pad:  # the last mask_pad positions of every other row are padding
            m = torch.ones(b, s, dtype=torch.long)
            m[::2, s - mask_pad :] = 0
            out["attention_mask"] = m
        return out

    return make


def _t5(b: int, s: int):
    def make():
        g = torch.Generator().manual_seed(0)
        x = torch.randint(0, 32128, (b, s), generator=g)
        return {"input_ids": x, "labels": torch.randint(0, 32128, (b, s // 4), generator=g)}

    return make


def _x(*shape: int, dtype: torch.dtype = torch.float32):
    def make():
        return (torch.randn(*shape, generator=torch.Generator().manual_seed(0), dtype=dtype),)

    return make


INPUTS: dict[str, Callable[[], Any]] = {
    "img64": _x(64, 3, 224, 224),
    "tok32x512x768": _x(32, 512, 768),
    "seq64x256x1024": _x(64, 256, 1024),
    "vec4096x4096": _x(4096, 4096),
    "gpt2-8x1024": _ids(8, 1024, 50257),
    "gpt2-8x1024-nolabels": _ids(8, 1024, 50257, labels=False),
    "bert-16x512": _ids(16, 512, 30522),
    "bert-16x512-padmask": _ids(16, 512, 30522, mask_pad=128),
    "llama-4x2048": _ids(4, 2048, 32000),
    "llama-8x2048-nolabels": _ids(8, 2048, 32000, labels=False),
    "pixels64": lambda: {
        "pixel_values": torch.randn(64, 3, 224, 224, generator=torch.Generator().manual_seed(0)),
        "labels": torch.zeros(64, dtype=torch.long),
    },
    "t5-16x512": _t5(16, 512),
}

INPUTS.update(
    {  # inputs of EXTRA_CASES
        "llama3b-1x4096": _ids(1, 4096, 128256),
        "gpt2-1x128-nolabels": _ids(1, 128, 50257, labels=False),
        "img256": _x(256, 3, 224, 224),
        "gpt2-4x1024": _ids(4, 1024, 50257),
        "tok16x1024x1536": _x(16, 1024, 1536),
        "pixels128-nolabels": lambda: {
            "pixel_values": torch.randn(128, 3, 224, 224, generator=torch.Generator().manual_seed(0))
        },
        "bert-32x128-nolabels": _ids(32, 128, 30522, labels=False),
        "llama-1x512-nolabels": _ids(1, 512, 32000, labels=False),
        "vec8192x4096": _x(8192, 4096),
        "seq16x512x1024": _x(16, 512, 1024),
    }
)

C = Case
CASES: list[Case] = [
    C("convnet-b64-infer-fp32", "convnet", "img64", False, "fp32"),
    C("convnet-b64-train-fp32-adam", "convnet", "img64", True, "fp32", "adam"),
    C("convnet-b64-train-fp32-sgd", "convnet", "img64", True, "fp32", "sgd-momentum"),
    C("convnet-b64-train-bf16mixed-adam", "convnet", "img64", True, "bf16-mixed", "adam"),
    C("encoder-b32s512-infer-fp32", "encoder", "tok32x512x768", False, "fp32"),
    C("encoder-b32s512-train-fp32-adam", "encoder", "tok32x512x768", True, "fp32", "adam"),
    C("encoder-b32s512-train-bf16mixed-adam", "encoder", "tok32x512x768", True, "bf16-mixed", "adam"),
    C(
        "encoder-nodrop-b32s512-train-bf16mixed-adam",
        "encoder-nodrop",
        "tok32x512x768",
        True,
        "bf16-mixed",
        "adam",
    ),
    C("lstm-b64s256-train-fp32-adam", "lstm", "seq64x256x1024", True, "fp32", "adam"),
    C("lstm-b64s256-infer-fp32", "lstm", "seq64x256x1024", False, "fp32"),
    C("mlp-b4096-train-fp32-adamw", "mlp", "vec4096x4096", True, "fp32", "adamw"),
    C("mlp-b4096-train-fp32-adam-fused", "mlp", "vec4096x4096", True, "fp32", "adam-fused"),
    C("gpt2-b8s1024-infer-fp32", "gpt2", "gpt2-8x1024-nolabels", False, "fp32"),
    C("gpt2-nocache-b8s1024-infer-fp32", "gpt2-nocache", "gpt2-8x1024-nolabels", False, "fp32"),
    C("gpt2-b8s1024-train-fp32-adam", "gpt2", "gpt2-8x1024", True, "fp32", "adam"),
    C("gpt2-b8s1024-train-bf16mixed-adam", "gpt2", "gpt2-8x1024", True, "bf16-mixed", "adam"),
    C("gpt2-b8s1024-train-fp16mixed-adam", "gpt2", "gpt2-8x1024", True, "fp16-mixed", "adam"),
    C("gpt2-b8s1024-train-bf16-adam", "gpt2", "gpt2-8x1024", True, "bf16", "adam"),
    C(
        "gpt2-b8s1024-train-bf16mixed-adam-ckpt",
        "gpt2",
        "gpt2-8x1024",
        True,
        "bf16-mixed",
        "adam",
        grad_checkpointing=True,
    ),
    C("gpt2-nodrop-b8s1024-train-fp32-adam", "gpt2-nodrop", "gpt2-8x1024", True, "fp32", "adam"),
    C("bert-b16s512-train-fp32-adamw", "bert", "bert-16x512", True, "fp32", "adamw"),
    C("bert-b16s512-train-bf16mixed-adamw", "bert", "bert-16x512", True, "bf16-mixed", "adamw"),
    C(
        "bert-b16s512-padmask-train-bf16mixed-adamw",
        "bert",
        "bert-16x512-padmask",
        True,
        "bf16-mixed",
        "adamw",
    ),
    C("vit-b64-train-bf16mixed-adamw", "vit", "pixels64", True, "bf16-mixed", "adamw"),
    C("vit-b64-infer-fp32", "vit", "pixels64", False, "fp32"),
    C("llama-1b-b4s2048-train-bf16mixed-adamw", "llama-1b", "llama-4x2048", True, "bf16-mixed", "adamw"),
    C(
        "llama-1b-b4s2048-train-bf16mixed-adamw-ckpt",
        "llama-1b",
        "llama-4x2048",
        True,
        "bf16-mixed",
        "adamw",
        grad_checkpointing=True,
    ),
    C("llama-1b-b4s2048-train-bf16-adam-fused", "llama-1b", "llama-4x2048", True, "bf16", "adam-fused"),
    C("llama-1b-b8s2048-infer-bf16", "llama-1b", "llama-8x2048-nolabels", False, "bf16"),
    C("llama-1b-nocache-b8s2048-infer-bf16", "llama-1b-nocache", "llama-8x2048-nolabels", False, "bf16"),
    C("t5-small-b16s512-train-fp32-adamw", "t5-small", "t5-16x512", True, "fp32", "adamw"),
    C("t5-small-b16s512-train-bf16mixed-adamw", "t5-small", "t5-16x512", True, "bf16-mixed", "adamw"),
]
EXTRA_CASES: list[Case] = [
    # Not in gpu-truth/cases.py: constructed for the step-time model after its constants were fitted, and
    # measured once on an H200 with the same protocol (tests/test_timing.py has the figures).
    C("llama3b-b1s4096-train-bf16mixed-adamw", "llama-3b", "llama3b-1x4096", True, "bf16-mixed", "adamw"),
    C("gpt2-b1s128-infer-fp32", "gpt2", "gpt2-1x128-nolabels", False, "fp32"),
    C("convnet-b256-train-bf16mixed-adam", "convnet", "img256", True, "bf16-mixed", "adam"),
    C("gpt2medium-b4s1024-train-bf16mixed-adamw", "gpt2-medium", "gpt2-4x1024", True, "bf16-mixed", "adamw"),
    C("encoder1536-b16s1024-infer-fp16mixed", "encoder-1536x8", "tok16x1024x1536", False, "fp16-mixed"),
    C("vit-b128-infer-bf16mixed", "vit", "pixels128-nolabels", False, "bf16-mixed"),
    C("bert-b32s128-infer-fp32", "bert", "bert-32x128-nolabels", False, "fp32"),
    C("llama1b-b1s512-infer-bf16", "llama-1b", "llama-1x512-nolabels", False, "bf16"),
    C("mlp-b8192-train-bf16-sgdmomentum", "mlp", "vec8192x4096", True, "bf16", "sgd-momentum"),
    C("lstm-b16s512-train-bf16mixed-adamw", "lstm", "seq16x512x1024", True, "bf16-mixed", "adamw"),
]
CASES_BY_NAME: dict[str, Case] = {c.name: c for c in CASES + EXTRA_CASES}

OPTIMIZER_KWARGS: dict[str, tuple[str, dict[str, Any]]] = {
    "adam": ("adam", {}),
    "adam-fused": ("adam", {"fused": True}),
    "adamw": ("adamw", {}),
    "sgd-momentum": ("sgd-momentum", {"lr": 0.01, "momentum": 0.9}),
}
"""Case optimizer name -> (netcensus optimizer name, constructor keyword arguments), as cases.py has
them."""


def has_transformers() -> bool:
    return importlib.util.find_spec("transformers") is not None


def needs_transformers(case: Case) -> str | None:
    """Why ``case`` cannot be built here (transformers missing), or None."""
    if case.transformers and not has_transformers():
        return "transformers is not installed"
    return None


@dataclass
class Built:
    """One case ready for ``netcensus.profile``."""

    case: Case
    model: nn.Module
    inputs: Any
    """A tuple of positional inputs or a dict of keyword inputs, on meta (integer ones real CPU tensors)."""
    train: bool
    precision: str
    optimizer: Any
    """A netcensus OptimizerSpec, or None for inference."""
    grad_checkpointing: bool

    def profile_kwargs(self) -> dict[str, Any]:
        kwargs = dict(inputs=self.inputs, train=self.train, precision=self.precision,
                      optimizer=self.optimizer)
        if self.precision == "bf16":  # the protocol builds the model on the GPU in float32, then casts it
            kwargs["weights_cast_from"] = "fp32"
        return kwargs


def optimizer_spec(case: Case) -> Any:
    from netcensus.options import OptimizerSpec

    if case.optimizer is None:
        return None
    name, kwargs = OPTIMIZER_KWARGS[case.optimizer]
    return OptimizerSpec(name, kwargs)


def build(case: Case, device: str = "meta") -> Built:
    """The case's model built under ``torch.device(device)`` (bf16 weights for precision "bf16"; train or
    eval mode; transformers' gradient checkpointing enabled when asked) and its inputs on ``device`` (for
    meta, integer inputs stay real CPU tensors: their values decide paths, as a padded mask does)."""
    with torch.device(device):
        model = MODELS[case.model]()
    if case.precision == "bf16":
        model = model.to(torch.bfloat16)
    if case.grad_checkpointing:
        model.gradient_checkpointing_enable()  # type: ignore[operator]
    model.train(case.train)
    inputs = INPUTS[case.inputs]()

    def move(t: torch.Tensor) -> torch.Tensor:
        if case.precision == "bf16" and t.is_floating_point():
            t = t.to(torch.bfloat16)
        if device == "meta" and not t.is_floating_point():
            return t  # token ids, labels and masks as a user passes them: real values (a padded mask's path)
        return t.to(device)

    if isinstance(inputs, dict):
        inputs = {k: move(v) for k, v in inputs.items()}
    else:
        inputs = tuple(move(a) for a in inputs)
    return Built(
        case, model, inputs, case.train, case.precision, optimizer_spec(case), case.grad_checkpointing
    )
