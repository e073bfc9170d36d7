"""Sweeps and fits answered from polynomials (netcensus.sweep), against tracing every size.

    python benchmarks/sweep.py            # the 7B Llama sweep and fits (about a minute on 2 cores)
    python benchmarks/sweep.py --quick    # inference only, fewer checks

The model is Llama-7B-shaped (LlamaConfig(hidden_size=4096, intermediate_size=11008, num_hidden_layers=32,
num_attention_heads=32, num_key_value_heads=32, vocab_size=32000)) built on the meta device. Measured:

* a 1,000-point sweep (batch 1..40 x sequence 512..32,768 in 25 steps of 1,344) of a bf16-mixed AdamW
  training step: wall time of ``netcensus.sweep.sweep`` (traces included; model build and imports not),
  and 5 sampled points compared with direct ``netcensus.profile`` traces (peak and FLOPs equal);
* the issue's fit: the largest sequence for a zero3 / 8 devices, bf16-mixed AdamW training step in 80 GiB,
  by ``netcensus.sweep.fit`` (polynomials, at most 5 traces) and by ``netcensus.fit`` (re-tracing
  search), both answers and times; and the same with the answer rounded to a multiple of 64.
Not a test: run by hand; the numbers go to docs/benchmarks.md ("Sweeps and fits in closed form").
"""

from __future__ import annotations

import argparse
import random
import time
import warnings


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    import torch
    import transformers

    import netcensus
    from netcensus import sweep as sw

    transformers.logging.set_verbosity_error()
    cfg = transformers.LlamaConfig(hidden_size=4096, intermediate_size=11008, num_hidden_layers=32,
                                   num_attention_heads=32, num_key_value_heads=32, vocab_size=32000)
    with torch.device("meta"):
        model = transformers.LlamaForCausalLM(cfg)
    train = not args.quick
    options = dict(train=train, precision="bf16-mixed") if train else {}
    batch = list(range(1, 41))
    seq = [512 + 1344 * k for k in range(25)]
    t = time.perf_counter()
    result = sw.sweep(model, batch, seq, input_size=["1x512:int64"], budget="80GiB", **options)
    took = time.perf_counter() - t
    print(f"sweep: {len(result.points)} points, {result.method}, {result.traces} traces, {took:.2f} s")
    if result.reason:
        print("  reason:", result.reason)
    rng = random.Random(0)
    sample = rng.sample(list(result.points), 2 if args.quick else 5)
    for point in sample:
        t = time.perf_counter()
        p = netcensus.profile(model, input_size=[f"{point.batch}x{point.seq}:int64"], depth=None, **options)
        ok = p.memory.peak == point.peak and p.flops == point.flops
        print(f"  b={point.batch} s={point.seq}: traced peak {p.memory.peak} flops {p.flops} "
              f"({time.perf_counter() - t:.2f} s) {'equal' if ok else 'DIFFERENT: ' + repr(point)}")
    if args.quick:
        return
    fit_options = dict(train=True, precision="bf16-mixed", optimizer="adamw", shard="zero3", devices=8)
    for multiple in (1, 64):
        t = time.perf_counter()
        found = sw.fit(model, "80GiB", ["1x4096:int64"], along="seq", multiple=multiple, **fit_options)
        took = time.perf_counter() - t
        print(f"fit (polynomial, multiple {multiple}): seq {found.value} ({found.method}, "
              f"{len(found.traces)} traces, {took:.2f} s)")
    t = time.perf_counter()
    old = netcensus.fit(model, "80GiB", ["1x4096:int64"], along="seq", **fit_options)
    took = time.perf_counter() - t
    print(f"fit (re-tracing search): seq {old.value} ({len(old.tries)} traces, {took:.2f} s)")


if __name__ == "__main__":
    main()
