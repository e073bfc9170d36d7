"""The child side of benchmarks/run.py: one tool on one model in a fresh process.

``python benchmarks/run.py --child MODEL TOOL`` runs :func:`child_main` here, which prints one
``RESULT {json}`` line: the tool's wall time, the process's RSS before and at its peak, and what the
tool found (parameters, FLOPs). Kept apart from the parent (scheduling, tables, docs) so each file is
one concept.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
META_TOOLS = ("floor", "netcensus", "netcensus-train", "netcensus-base", "netcensus-train-base",
              "flopcounter", "torchinfo-meta", "thop-meta", "fvcore-meta", "ptflops-meta")


def _rss_mib() -> float:
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _tool_module(tool: str) -> Any:
    base = tool.removesuffix("-meta").removesuffix("-base")
    if base in ("netcensus", "netcensus-train"):
        import netcensus
        netcensus.profile  # noqa: B018 - the package imports its API lazily: import it here, untimed
        return netcensus
    if base == "flopcounter":
        from torch.utils import flop_counter
        return flop_counter
    if base == "torchinfo":
        import torchinfo
        return torchinfo
    if base == "thop":
        import thop
        return thop
    if base == "fvcore":
        import fvcore.nn
        return fvcore.nn
    if base == "ptflops":
        import ptflops
        return ptflops
    return None


def _FirstOutput(model: Any) -> Any:  # noqa: N802 - builds a module, reads like a class
    import torch

    class FirstOutput(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, *args: Any) -> Any:
            return self.model(*args)[0]

    return FirstOutput()


def _call(tool: str, mod: Any, model: Any, args: tuple, kwargs: dict) -> str:
    """Run ``tool`` once; return a short description of what it found."""
    import torch

    base = tool.removesuffix("-meta").removesuffix("-base")
    device = "meta" if tool in META_TOOLS else "cpu"
    if base == "floor":
        with torch.no_grad():
            model(*args, **kwargs)
        return "forward ran"
    if base == "netcensus":
        p = mod.profile(model, inputs=kwargs if kwargs else args)
        return f"params {p.total_params:,}; FLOPs {p.flops:,}; peak {p.memory.peak / 2**20:,.0f} MiB"
    if base == "netcensus-train":
        p = mod.profile(model, inputs=kwargs if kwargs else args, train=True)
        return (f"params {p.total_params:,}; FLOPs fwd+bwd {p.flops:,}; "
                f"training peak {p.memory.peak / 2**20:,.0f} MiB")
    if base == "flopcounter":
        with torch.no_grad(), mod.FlopCounterMode(display=False) as counter:
            model(*args, **kwargs)
        return f"FLOPs {counter.get_total_flops():,}"
    positional = args + tuple(kwargs.values())
    if base == "torchinfo":
        stats = mod.summary(model, input_data=kwargs if kwargs else list(args), device=device, verbose=0)
        return f"params {stats.total_params:,}; mult-adds {stats.total_mult_adds:,}"
    if base == "thop":
        macs, params = mod.profile(model, inputs=positional, verbose=False)
        return f"params {int(params):,}; MACs {int(macs):,}"
    if base == "fvcore":
        traced = model
        if hasattr(model, "config"):
            # fvcore traces with torch.jit, which needs tensor outputs: the usual wrapper returns the
            # model output's first field (logits or last hidden state)
            traced = _FirstOutput(model)
        analysis = mod.FlopCountAnalysis(traced, positional)
        analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
        return f"FLOPs (fvcore: MACs) {analysis.total():,}"
    if base == "ptflops":
        def construct(_res: Any) -> Any:
            return dict(kwargs) if kwargs else args[0]

        macs, params = mod.get_model_complexity_info(model, (1,), input_constructor=construct,
                                                     as_strings=False, print_per_layer_stat=False)
        if macs is None:
            raise RuntimeError("get_model_complexity_info returned None (it printed the exception)")
        return f"params {int(params):,}; MACs {int(macs):,}"
    raise KeyError(tool)


def child(model_name: str, tool: str, mem_limit_gib: float, again: bool = True) -> dict[str, Any]:
    import io
    import warnings
    from contextlib import redirect_stdout

    warnings.filterwarnings("ignore")
    t0 = time.perf_counter()
    import torch
    import zoo

    mod = _tool_module(tool)
    if zoo.MODELS[model_name].transformers:
        import transformers  # noqa: F401
        transformers.logging.set_verbosity_error()
    # torch imports its meta kernels, decompositions and refs (about 800 modules, 2-3 s) on the first
    # meta op of a process: every tool would pay it once, so it is paid here, untimed
    torch.empty(1, device="meta").add(1)
    imported = time.perf_counter() - t0
    rss_imports = _rss_mib()
    if tool not in META_TOOLS and mem_limit_gib > 0:
        # cap the address space: what is mapped now plus the budget (torch maps a lot at import)
        with open("/proc/self/statm") as f:
            mapped = int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
        limit = mapped + int(mem_limit_gib * 2**30)
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    device = "meta" if tool in META_TOOLS else "cpu"
    t0 = time.perf_counter()
    torch.manual_seed(0)
    model, args, kwargs = zoo.build(model_name, device)
    built = time.perf_counter() - t0
    rss_built = _rss_mib()
    peak_built = _peak_mib()
    out = io.StringIO()
    t0 = time.perf_counter()
    with redirect_stdout(out):
        found = _call(tool, mod, model, args, kwargs)
    elapsed = time.perf_counter() - t0
    peak = _peak_mib()
    second = None
    if again:
        t0 = time.perf_counter()
        with redirect_stdout(out):
            _call(tool, mod, model, args, kwargs)
        second = time.perf_counter() - t0
    return {"ok": True, "time_s": elapsed, "second_s": second, "import_s": imported, "build_s": built,
            "rss_imports_mib": rss_imports, "rss_built_mib": rss_built, "peak_built_mib": peak_built,
            "peak_mib": peak, "peak_after_second_mib": _peak_mib(), "found": found, "device": device,
            "module": getattr(mod, "__file__", None)}


def child_main(model_name: str, tool: str, mem_limit_gib: float) -> None:
    sys.path.insert(0, str(HERE))
    try:
        result = child(model_name, tool, mem_limit_gib)
    except MemoryError:
        result = {"ok": False, "error": "out of memory"}
    except BaseException as exc:  # noqa: BLE001 - every failure is a result to report
        text = f"{type(exc).__name__}: {exc}".strip().splitlines()[0][:160]
        chain = exc.__cause__ or exc.__context__
        if chain is not None:
            text += f" (from {type(chain).__name__}: {str(chain).strip().splitlines()[0][:100]})" \
                if str(chain).strip() else f" (from {type(chain).__name__})"
        low = text.lower()
        if "can't allocate memory" in low or "out of memory" in low or "memoryerror" in low:
            result = {"ok": False, "error": "out of memory"}
        else:
            result = {"ok": False, "error": text}
    print("RESULT " + json.dumps(result), flush=True)
