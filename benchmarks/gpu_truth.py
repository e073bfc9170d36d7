"""Measure the memory of the cases of tests/gpu_cases.py on a CUDA GPU, and put netcensus's estimates beside.

    python benchmarks/gpu_truth.py OUT.json [--only SUBSTR,...] [--estimate-only]

The protocol (the one tests/test_gpu_truth_memory.py's figures were measured with), per case:

1. a clean allocator: garbage collected, cuBLAS workspaces cleared, cached blocks released, peaks reset;
2. the model built on the GPU and the inputs moved there: ``resident`` = ``memory_allocated()``;
3. one step, peaks reset before it: ``step1_peak`` = ``max_memory_allocated()``, then
   ``before_step2`` = ``memory_allocated()``; a step is, for inference, the forward under ``no_grad``
   (and autocast for a mixed precision); for training, the forward (under autocast), backward seeded with
   ones on the loss (or the output), ``optimizer.step()`` and ``zero_grad(set_to_none=True)``;
4. a second step, peaks reset before it: ``step2_peak`` = ``max_memory_allocated()`` (steady state) and
   ``step2_reserved`` = ``max_memory_reserved()``.

Each record also holds netcensus's estimate for ``target="cuda"`` (traced on meta tensors:
``peak``, ``first_step_peak``, ``reserved``) and the ratios. ``--estimate-only`` skips the GPU (runs
anywhere).
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
import gpu_cases as G  # noqa: E402


def _reset() -> None:
    gc.collect()
    torch.cuda.synchronize()
    clear = getattr(torch._C, "_cuda_clearCublasWorkspaces", None)
    if clear is not None:
        clear()
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()


def _step_fn(case: G.Case, model: torch.nn.Module, inputs: Any, opt: Any):
    args, kwargs = ((), inputs) if isinstance(inputs, dict) else (inputs, {})
    low = {"bf16-mixed": torch.bfloat16, "fp16-mixed": torch.float16}.get(case.precision)

    def autocast():
        return torch.autocast("cuda", dtype=low, enabled=low is not None)

    def step() -> None:
        if not case.train:
            with torch.no_grad(), autocast():
                model(*args, **kwargs)
            return
        with autocast():
            out = model(*args, **kwargs)
        loss = getattr(out, "loss", None)
        if isinstance(loss, torch.Tensor):
            roots = [loss]
        elif hasattr(out, "logits"):
            roots = [out.logits]
        else:
            roots = [out] if isinstance(out, torch.Tensor) else [
                t for t in out if isinstance(t, torch.Tensor)]
        torch.autograd.backward(roots, [torch.ones_like(r) for r in roots])
        del out, roots
        opt.step()
        opt.zero_grad(set_to_none=True)

    return step


def _optimizer(case: G.Case, model: torch.nn.Module) -> Any:
    name, kwargs = G.OPTIMIZER_KWARGS[case.optimizer]
    cls = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "sgd-momentum": torch.optim.SGD}[name]
    return cls(model.parameters(), **kwargs)


def measure(case: G.Case) -> dict[str, int]:
    _reset()
    built = G.build(case, "cuda")
    opt = _optimizer(case, built.model) if case.train else None
    step = _step_fn(case, built.model, built.inputs, opt)
    torch.cuda.synchronize()
    rec = {"resident": torch.cuda.memory_allocated()}
    torch.cuda.reset_peak_memory_stats()
    step()
    torch.cuda.synchronize()
    rec["step1_peak"] = torch.cuda.max_memory_allocated()
    rec["before_step2"] = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    step()
    torch.cuda.synchronize()
    rec["step2_peak"] = torch.cuda.max_memory_allocated()
    rec["step2_reserved"] = torch.cuda.max_memory_reserved()
    del built, opt, step
    return rec


def this_gpu() -> Any:
    """The CUDA device here as a netcensus DeviceSpec whose ``arch`` and ``sms`` (what the memory rules
    read) are the device's own; None without a CUDA device (the estimates are then an H100/H200's). Its
    throughput figures are the H100 SXM's: only memory is estimated here."""
    if not torch.cuda.is_available():
        return None
    from dataclasses import replace

    from netcensus.devices import get_gpu

    props = torch.cuda.get_device_properties(0)
    rocm = getattr(torch.version, "hip", None)
    arch = props.gcnArchName.split(":")[0] if rocm else f"sm_{props.major}{props.minor}"  # gfx942:sramecc+
    return replace(get_gpu("H100-SXM"), name=props.name, arch=arch, sms=props.multi_processor_count)


def estimate(case: G.Case, gpu: Any = None) -> dict[str, int | None]:
    import netcensus

    built = G.build(case)
    m = netcensus.profile(built.model, **built.profile_kwargs(), target="cuda", gpu=gpu).memory
    return {"peak": m.peak, "first_step_peak": m.first_step_peak, "reserved": m.reserved}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--only", default="")
    ap.add_argument("--estimate-only", action="store_true")
    a = ap.parse_args()
    gpu = not a.estimate_only and torch.cuda.is_available()
    spec = this_gpu()
    result: dict[str, Any] = {"env": {"torch": torch.__version__}, "cases": []}
    if gpu:
        result["env"].update(gpu=torch.cuda.get_device_name(), cuda=torch.version.cuda,
                             cudnn=torch.backends.cudnn.version())
    result["env"]["estimated_for"] = f"{spec.name} ({spec.arch}, {spec.sms} SMs)" if spec else "H100/H200 SXM"
    for case in G.CASES:
        if a.only and not any(s in case.name for s in a.only.split(",")):
            continue
        rec: dict[str, Any] = {"case": case.name}
        try:
            rec["estimate"] = estimate(case, spec)
            if gpu:
                rec["measured"] = measure(case)
                e, m = rec["estimate"], rec["measured"]
                rec["ratios"] = {"step2_peak": e["peak"] / m["step2_peak"],
                                 "step1_peak": (e["first_step_peak"] or 0) / m["step1_peak"],
                                 "step2_reserved": (e["reserved"] or 0) / m["step2_reserved"]}
        except Exception as exc:  # noqa: BLE001 - a failing case is recorded, the others still run
            rec["error"] = f"{type(exc).__name__}: {exc}"[:400]
        result["cases"].append(rec)
        print(json.dumps(rec), flush=True)
        Path(a.out).write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
