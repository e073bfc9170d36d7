"""Estimated peaks against torch.cuda.max_memory_allocated, for a few models on a CUDA device.

    python benchmarks/gpu_memory_check.py            # needs a CUDA device; exits 0 without one
    python benchmarks/gpu_memory_check.py --dry-run  # estimates only, any machine
    python benchmarks/gpu_memory_check.py --small    # tiny sizes (a quick smoke run)
    python benchmarks/gpu_memory_check.py --only llama-sdpa,llama-flex   # FlexAttention against SDPA

For each model and precision (fp32, bf16-mixed), the meta-trace estimate of netcensus is compared with
what the CUDA caching allocator reports:

* inference: ``max_memory_allocated`` over one forward under ``no_grad`` (and ``torch.autocast`` for
  bf16-mixed), model and inputs already on the device;
* training: one warm-up step first (so Adam's state exists, the steady state the estimate models),
  gradients set to None, then the peak over forward, backward and ``optimizer.step()``.

The allocator rounds blocks up (512 bytes, 2 MiB segments are not counted by max_memory_allocated)
and cuBLAS/cuDNN workspaces it serves count as allocated: small models read higher than estimated.
Exit status: 0, or 1 with ``--strict`` when a ratio falls outside ``--tolerance`` (default 10%).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))


class _Block(nn.Module):
    def __init__(self, d: int, heads: int):
        super().__init__()
        self.heads = heads
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.qkv, self.proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).view(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.proj(y.transpose(1, 2).reshape(b, n, d))
        return x + self.mlp(self.ln2(x))


class _Decoder(nn.Module):
    def __init__(self, vocab: int, d: int, layers: int, heads: int):
        super().__init__()
        self.emb = nn.Embedding(vocab, d)
        self.blocks = nn.ModuleList(_Block(d, heads) for _ in range(layers))
        self.ln = nn.LayerNorm(d)
        self.head = nn.Linear(d, vocab)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        x = self.emb(ids)
        for b in self.blocks:
            x = b(x)
        return self.head(self.ln(x))


def _models(small: bool) -> list[tuple[str, Callable[[], nn.Module], Callable[[], tuple[Any, ...]]]]:
    s = 8 if small else 1  # width divisor
    t = 4 if small else 1  # depth divisor
    w = 4096 // s
    out: list[tuple[str, Callable[[], nn.Module], Callable[[], tuple[Any, ...]]]] = [
        ("mlp", lambda: nn.Sequential(nn.Linear(w, w), nn.GELU(), nn.Linear(w, w), nn.GELU(),
                                      nn.Linear(w, 1000)),
         lambda: (torch.randn(512 // s, w),)),
        ("cnn", lambda: nn.Sequential(
            nn.Conv2d(3, 64, 7, 2, 3), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(3, 2, 1),
            nn.Conv2d(64, 128, 3, 1, 1), nn.BatchNorm2d(128), nn.ReLU(), nn.Conv2d(128, 256, 3, 2, 1),
            nn.BatchNorm2d(256), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(256, 1000)),
         lambda: (torch.randn(64 // s, 3, 224 // s, 224 // s),)),
        ("decoder", lambda: _Decoder(32000 // s, 768 // s, 12 // t, 12 // t),
         lambda: (torch.randint(0, 32000 // s, (8 // t, 1024 // s)),)),
    ]
    try:
        import transformers

        def gpt2() -> nn.Module:
            cfg = transformers.GPT2Config(n_layer=6 // (2 if small else 1), n_embd=768 // s, n_head=12 // t,
                                          vocab_size=50257 // s, resid_pdrop=0.0, embd_pdrop=0.0,
                                          attn_pdrop=0.0)
            return transformers.GPT2LMHeadModel(cfg)

        out.append(("gpt2-6l", gpt2, lambda: (torch.randint(0, 50257 // s, (4, 512 // s)),)))

        def llama(attention: str) -> Callable[[], nn.Module]:
            def make() -> nn.Module:  # grouped-query attention, causal; transformers compiles flex itself
                cfg = transformers.LlamaConfig(hidden_size=1024 // s, intermediate_size=2816 // s,
                                               num_hidden_layers=4 // t, num_attention_heads=16 // t,
                                               num_key_value_heads=4 // t, vocab_size=32000 // s,
                                               attn_implementation=attention)
                return transformers.LlamaForCausalLM(cfg)
            return make

        for attention in ("sdpa", "flex_attention"):
            out.append((f"llama-{attention.split('_')[0]}", llama(attention),
                        lambda: (torch.randint(0, 32000 // s, (4, 2048 // s)),)))
    except ImportError:
        pass
    return out


def estimate(model: nn.Module, args: tuple[Any, ...], train: bool, precision: str) -> int:
    from netcensus.analyses.memory import analyze_memory, param_infos
    from netcensus.options import OptimizerSpec, Precision
    from netcensus.trace.contexts import trace_contexts
    from netcensus.trace.tracer import trace_model

    contexts = trace_contexts(Precision(precision), device_type="cuda")
    trace = trace_model(model, args, train=train, contexts=contexts)
    optimizer = OptimizerSpec("adam") if train else None
    return analyze_memory(trace, param_infos(model), optimizer=optimizer, precision=Precision(precision)).peak


def _roots(out: Any) -> list[torch.Tensor]:
    loss = getattr(out, "loss", None)
    if isinstance(loss, torch.Tensor):
        return [loss]
    if hasattr(out, "logits"):
        return [out.logits]
    return [out] if isinstance(out, torch.Tensor) else [t for t in out if isinstance(t, torch.Tensor)]


def measure(model: nn.Module, args: tuple[Any, ...], train: bool, precision: str) -> int:
    """Peak bytes the CUDA caching allocator reports for one step (see the module docstring)."""
    dev = torch.device("cuda")
    model = model.to(dev)
    args = tuple(a.to(dev) for a in args)
    amp = (lambda: torch.autocast("cuda", dtype=torch.bfloat16)) if precision == "bf16-mixed" else nullcontext
    model.train(train)
    if not train:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        with torch.no_grad(), amp():
            out = model(*args)
        torch.cuda.synchronize()
        peak = torch.cuda.max_memory_allocated()
        del out
        return peak
    opt = torch.optim.Adam(model.parameters())

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        with amp():
            out = model(*args)
        roots = _roots(out)
        torch.autograd.backward(roots, [torch.ones_like(r) for r in roots])
        opt.step()

    step()  # the first step allocates the optimizer state
    opt.zero_grad(set_to_none=True)
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    step()
    torch.cuda.synchronize()
    return torch.cuda.max_memory_allocated()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dry-run", action="store_true", help="estimates only; no device needed")
    p.add_argument("--small", action="store_true", help="tiny sizes")
    p.add_argument("--strict", action="store_true", help="exit 1 when a ratio is outside the tolerance")
    p.add_argument("--tolerance", type=float, default=0.10)
    p.add_argument("--only", default="", help="comma-separated model names (mlp, cnn, decoder, gpt2-6l, "
                                              "llama-sdpa, llama-flex); default all")
    a = p.parse_args(argv)
    if not a.dry_run and not torch.cuda.is_available():
        print("gpu_memory_check: no CUDA device here; nothing measured (use --dry-run for estimates only).")
        return 0
    from netcensus.units import nbytes

    print(f"{'model':10} {'precision':11} {'step':9} {'estimate':>12} {'measured':>12} {'ratio':>7}")
    bad = 0
    only = {n for n in a.only.split(",") if n}
    for name, make, inputs in _models(a.small):
        if only and name not in only:
            continue
        for precision in ("fp32", "bf16-mixed"):
            for train in (False, True):
                torch.manual_seed(0)
                model, args = make(), inputs()
                est = estimate(model, args, train, precision)
                if a.dry_run:
                    real_text, ratio_text = "-", "-"
                else:
                    real = measure(model, args, train, precision)
                    ratio = est / real
                    bad += abs(ratio - 1) > a.tolerance
                    real_text, ratio_text = nbytes(real), f"{ratio:.3f}"
                    del model
                    torch.cuda.empty_cache()
                step = "training" if train else "inference"
                print(f"{name:10} {precision:11} {step:9} {nbytes(est):>12} {real_text:>12} {ratio_text:>7}",
                      flush=True)
    return 1 if a.strict and bad else 0


if __name__ == "__main__":
    sys.exit(main())
