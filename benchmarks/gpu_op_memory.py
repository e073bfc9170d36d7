"""What each op of a case's steady-state step holds on a CUDA GPU beyond its outputs, beside the rule
netcensus applies (the measurements issue 13's convnet reserved gap is waiting for).

    python benchmarks/gpu_op_memory.py OUT.json [--only SUBSTR,...] [--batch N] [--all-ops]

Per case of tests/gpu_cases.py (default: the convnet cases), the protocol of benchmarks/gpu_truth.py up
to the second step, which runs under a dispatch mode that wraps every aten op (backward ones too: phase
"bwd" is an op that an autograd node runs) and reads the caching allocator around it:

  before     memory_allocated() as the op starts (peaks reset there)
  after      memory_allocated() when it returns
  transient  max_memory_allocated() during the op - after: what the op allocated and freed inside,
             a cuDNN convolution's workspace, a reduction's staging buffer
  kept       after - before - the bytes of the op's new output storages (rounded to 512-byte blocks):
             what the op allocated and kept, a cuBLAS handle's workspace, cuDNN's RNN reserve space

beside, for convolutions and reductions, the bytes netcensus's rule gives for the same tensors
(netcensus.devices.cuda.conv_workspace of the largest operand; the reduction staging rule). After the
step: the allocator's segments (``torch.cuda.memory_snapshot()``: size, allocated bytes, pool) and
``max_memory_reserved``, to compare with the reserved replay's segments.

Without a CUDA device (or with ``--device cpu``) the ops are recorded on CPU tensors: the rule column
and the op sequence only, no allocator figures (a check that the script runs before spending device
time). ``--batch N`` keeps the first N rows of every input (a small smoke run); the measured cases use
the full batch.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
sys.path.insert(0, str(HERE.parent / "src"))
sys.path.insert(0, str(HERE))
import gpu_cases as G  # noqa: E402
import gpu_truth as T  # noqa: E402

from netcensus.analyses.memory.device import CONV_OPS, REDUCE_OPS, reduction_staging_of  # noqa: E402
from netcensus.devices import cuda  # noqa: E402
from netcensus.dtypes import dtype_name, numel  # noqa: E402

DEFAULT_ONLY = "convnet"


def _tensors(tree: Any) -> list[torch.Tensor]:
    return [t for t in tree_flatten(tree)[0] if isinstance(t, torch.Tensor)]


ARCH = cuda.arch_of(T.this_gpu())
"""The GPU here (its architecture and SMs), for the rules' column; an H100/H200's without CUDA."""


def rule_bytes(name: str, args: tuple, out: Any) -> int | None:
    """netcensus's transient bytes for this op and these tensors (None: no rule for the op)."""
    if name in CONV_OPS:
        sizes = [t.numel() * t.element_size() for t in _tensors(args) + _tensors(out)]
        return cuda.conv_workspace(max(sizes + [0]))
    if name in REDUCE_OPS and args and isinstance(args[0], torch.Tensor):
        dims = args[1] if len(args) > 1 else None
        return reduction_staging_of(tuple(args[0].shape), dtype_name(args[0].dtype), dims, ARCH)
    return None


class OpMemory(TorchDispatchMode):
    """Records every aten op: name, thread, shapes, and (on CUDA) the allocator figures around it."""

    def __init__(self, on_cuda: bool) -> None:
        super().__init__()
        self.on_cuda = on_cuda
        self.ops: list[dict[str, Any]] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = func._schema.name.split("::")[-1]
        seen = {t.untyped_storage().data_ptr() for t in _tensors((args, kwargs))}
        if self.on_cuda:
            before = torch.cuda.memory_allocated()
            torch.cuda.reset_peak_memory_stats()
        out = func(*args, **kwargs)
        rec: dict[str, Any] = {
            "op": name,
            "backward": torch._C._current_autograd_node() is not None,
            "inputs": [[list(t.shape), dtype_name(t.dtype)] for t in _tensors(args)][:4],
            "outputs": [[list(t.shape), dtype_name(t.dtype)] for t in _tensors(out)][:4],
            "rule": rule_bytes(name, args, out),
        }
        if self.on_cuda:
            after = torch.cuda.memory_allocated()
            peak = torch.cuda.max_memory_allocated()
            new: dict[int, int] = {}
            for t in _tensors(out):
                s = t.untyped_storage()
                if s.data_ptr() not in seen:
                    new[s.data_ptr()] = cuda.round_block(s.nbytes())
            rec.update(before=before, after=after, transient=peak - after,
                       kept=after - before - sum(new.values()))
        self.ops.append(rec)
        return out


def _segments() -> list[dict[str, Any]]:
    return [{"size": s["total_size"], "allocated": s["allocated_size"], "pool": s.get("segment_type", "")}
            for s in torch.cuda.memory_snapshot()]


def _first_rows(inputs: Any, n: int) -> Any:
    def cut(t: Any) -> Any:
        return t[:n] if isinstance(t, torch.Tensor) and t.dim() else t
    if isinstance(inputs, dict):
        return {k: cut(v) for k, v in inputs.items()}
    return tuple(cut(a) for a in inputs)


def measure(case: G.Case, device: str, batch: int | None) -> dict[str, Any]:
    on_cuda = device == "cuda"
    if on_cuda:
        T._reset()
    built = G.build(case, device)
    inputs = _first_rows(built.inputs, batch) if batch else built.inputs
    opt = T._optimizer(case, built.model) if case.train else None
    step = T._step_fn(case, built.model, inputs, opt)
    step()  # the first step: plans chosen, workspaces and optimizer state created
    if on_cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    mode = OpMemory(on_cuda)
    with mode:
        step()
    rec: dict[str, Any] = {"case": case.name, "batch": batch, "ops": mode.ops}
    if on_cuda:
        torch.cuda.synchronize()
        rec["max_memory_reserved"] = torch.cuda.max_memory_reserved()
        rec["segments"] = _segments()
    return rec


def summary(rec: dict[str, Any], all_ops: bool) -> list[str]:
    lines = [f"## {rec['case']}" + (f" (batch {rec['batch']})" if rec["batch"] else ""),
             "| # | phase | op | largest input | transient | rule | kept |", "|---|---|---|---|---|---|---|"]
    for i, op in enumerate(rec["ops"]):
        measured = op.get("transient")
        if not all_ops and op["rule"] is None and not measured and not op.get("kept"):
            continue
        shape = max(op["inputs"], key=lambda s: numel(s[0]), default=[[], ""])
        lines.append(f"| {i} | {'bwd' if op['backward'] else 'fwd'} | {op['op']} | {shape[0]} {shape[1]} | "
                     f"{_fmt(measured)} | {_fmt(op['rule'])} | {_fmt(op.get('kept'))} |")
    convs = [op for op in rec["ops"] if op["op"] in CONV_OPS]
    if convs and "transient" in convs[0]:
        measured = sum(o["transient"] for o in convs)
        lines.append(f"convolutions: {len(convs)}, measured transient {measured:,} B, "
                     f"rule {sum(o['rule'] or 0 for o in convs):,} B")
    if "segments" in rec:
        sizes = sorted((s["size"] for s in rec["segments"]), reverse=True)
        lines.append(f"max_memory_reserved {rec['max_memory_reserved']:,} B; {len(sizes)} segments: "
                     + ", ".join(f"{s:,}" for s in sizes[:40]) + (" ..." if len(sizes) > 40 else ""))
    return lines


def _fmt(v: int | None) -> str:
    return "" if v is None else f"{v:,}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out")
    ap.add_argument("--only", default=DEFAULT_ONLY, help="comma-separated substrings of case names")
    ap.add_argument("--device", choices=("cuda", "cpu"), default=None,
                    help="default: cuda when available, else cpu (rules and op sequence only)")
    ap.add_argument("--batch", type=int, default=None, help="keep the first N rows of every input")
    ap.add_argument("--all-ops", action="store_true", help="list every op, not only those with figures")
    a = ap.parse_args(argv)
    device = a.device or ("cuda" if torch.cuda.is_available() else "cpu")
    result: dict[str, Any] = {"env": {"torch": torch.__version__, "device": device, "rules_for": ARCH.name},
                              "cases": []}
    if device == "cuda":
        result["env"].update(gpu=torch.cuda.get_device_name(), cuda=torch.version.cuda,
                             cudnn=torch.backends.cudnn.version())
    for case in G.CASES:
        if not any(s in case.name for s in a.only.split(",")) or G.needs_transformers(case):
            continue
        try:
            rec = measure(case, device, a.batch)
        except Exception as exc:  # noqa: BLE001 - a failing case is recorded, the others still run
            rec = {"case": case.name, "error": f"{type(exc).__name__}: {exc}"[:400]}
            print(json.dumps(rec), flush=True)
        else:
            print("\n".join(summary(rec, a.all_ops)), flush=True)
        result["cases"].append(rec)
        Path(a.out).write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
