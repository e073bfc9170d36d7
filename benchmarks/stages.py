"""Where one ``netcensus.profile`` call spends its time, stage by stage, beside a plain meta forward.

    python benchmarks/stages.py llama70b                # inference
    python benchmarks/stages.py llama70b --train        # forward + backward traced
    python benchmarks/stages.py resnet50 --repeat 5 --cprofile 30

Everything runs in this one process after a warm-up call, so the figures are per call in steady
state; each is the minimum over ``--repeat`` calls (the machine may be shared), with the plain meta
forward (``floor``, under no_grad; with ``--train`` also forward + backward) timed in the same
rounds. ``--cprofile N`` prints the N most expensive functions of one more call.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402
import zoo  # noqa: E402

STAGES = ("census", "trace_model", "build_layers", "analyze_compute", "param_infos", "analyze_memory")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", choices=list(zoo.MODELS))
    parser.add_argument("--train", action="store_true")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--cprofile", type=int, default=0, metavar="N")
    ns = parser.parse_args()

    import warnings

    warnings.filterwarnings("ignore")
    import netcensus
    from netcensus import api

    model, args, kwargs = zoo.build(ns.model, "meta")
    inputs = kwargs if kwargs else args
    times: dict[str, list[float]] = defaultdict(list)
    current: dict[str, float] = defaultdict(float)

    def timed(name: str, fn: Any) -> Any:
        def wrapper(*a: Any, **k: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                current[name] += time.perf_counter() - t0
        return wrapper

    originals = {name: getattr(api, name) for name in STAGES}
    for name, fn in originals.items():
        setattr(api, name, timed(name, fn))

    def floor() -> None:
        if ns.train:
            out = model(*args, **kwargs)
            logits = out if isinstance(out, torch.Tensor) else out[0]
            logits.backward(torch.ones_like(logits))
        else:
            with torch.no_grad():
                model(*args, **kwargs)

    netcensus.profile(model, inputs=inputs, train=ns.train)  # warm-up
    floor()
    events = 0
    for _ in range(ns.repeat):
        current.clear()
        t0 = time.perf_counter()
        floor()
        times["floor (plain meta forward" + (" + backward)" if ns.train else ")")].append(
            time.perf_counter() - t0)
        t0 = time.perf_counter()
        p = netcensus.profile(model, inputs=inputs, train=ns.train)
        times["profile() total"].append(time.perf_counter() - t0)
        for name in STAGES:
            times[name].append(current[name])
        events = len(p.trace.events)
    base = min(next(v for k, v in times.items() if k.startswith("floor")))
    print(f"{zoo.MODELS[ns.model].label}{', train' if ns.train else ''}: {events:,} events; "
          f"minimum of {ns.repeat} calls")
    for name, values in times.items():
        print(f"  {name:42s} {min(values):8.3f} s  {min(values) / base:6.2f}x floor")
    if ns.cprofile:
        for name, fn in originals.items():
            setattr(api, name, fn)
        pr = cProfile.Profile()
        pr.enable()
        netcensus.profile(model, inputs=inputs, train=ns.train)
        pr.disable()
        pstats.Stats(pr).sort_stats("tottime").print_stats(ns.cprofile)
    return 0


if __name__ == "__main__":
    sys.exit(main())
