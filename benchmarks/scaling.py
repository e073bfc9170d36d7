"""How netcensus's cost grows: with sequence length, batch and depth of one transformer.

    python benchmarks/scaling.py                  # the three sweeps (a few minutes)
    python benchmarks/scaling.py --write after    # also into docs/benchmarks.md

On meta tensors nothing is allocated and no arithmetic is done, so the cost of an analysis should follow
the number of ops the model runs (its depth), not the sizes of the tensors (sequence, batch). The model
is Llama-7B-shaped (hidden 4096, MLP 11008, 32 heads, vocab 32,000: ``zoo.llama_config``), built from
transformers' config class on the meta device. Three sweeps, each point in a fresh process:

* sequence 512 .. 32,768 at batch 1, 32 layers;
* batch 1 .. 64 at sequence 2,048, 32 layers;
* 2 .. 80 layers at batch 1, sequence 2,048.

Each process builds the model, runs a plain meta forward under no_grad (the floor), then
``netcensus.profile`` (census, shapes, FLOPs, inference memory), then ``profile(train=True)`` (forward
and backward traced, training memory), each once, in this order, and reports their wall times, the
number of ops traced, the FLOPs found (which do grow with sequence and batch: the analysis is not
skipping work), and the peak resident set size (RSS) above what the process held after building the
model ("added": the inference figure is read after ``profile``, the training one after
``profile(train=True)``). Not a test: run by hand.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

SWEEPS: dict[str, list[tuple[int, int, int]]] = {
    # (layers, batch, sequence)
    "sequence": [(32, 1, s) for s in (512, 1024, 2048, 4096, 8192, 16384, 32768)],
    "batch": [(32, b, 2048) for b in (1, 2, 4, 8, 16, 32, 64)],
    "layers": [(n, 1, 2048) for n in (2, 5, 10, 20, 40, 80)],
}


def child(layers: int, batch: int, seq: int) -> dict[str, Any]:
    import warnings

    warnings.filterwarnings("ignore")
    import torch
    import transformers
    import zoo
    from child import _peak_mib, _rss_mib

    import netcensus

    transformers.logging.set_verbosity_error()
    netcensus.profile  # noqa: B018 - resolve the lazy API before timing
    torch.empty(1, device="meta").add(1)  # torch's meta kernels import on the first meta op
    with torch.device("meta"):
        model = transformers.LlamaForCausalLM(zoo.llama_config(layers, 4096, 11008, 32, 32, 32000,
                                                               positions=max(seq, 2048))).eval()
    ids = torch.zeros(batch, seq, dtype=torch.long, device="meta")
    built = _rss_mib()
    t0 = time.perf_counter()
    with torch.no_grad():
        model(input_ids=ids)
    floor = time.perf_counter() - t0
    t0 = time.perf_counter()
    p = netcensus.profile(model, inputs={"input_ids": ids})
    inference = time.perf_counter() - t0
    peak_inference = _peak_mib()
    t0 = time.perf_counter()
    pt = netcensus.profile(model, inputs={"input_ids": ids}, train=True)
    train = time.perf_counter() - t0
    return {"floor_s": floor, "profile_s": inference, "train_s": train, "events": len(p.trace.events),
            "train_events": len(pt.trace.events), "params": p.total_params, "flops": p.flops,
            "train_flops": pt.flops, "peak_bytes": p.memory.peak, "train_peak_bytes": pt.memory.peak,
            "added_mib": peak_inference - built, "train_added_mib": _peak_mib() - built,
            "rss_built_mib": built}


def run_point(layers: int, batch: int, seq: int, timeout: float) -> dict[str, Any]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", str(layers), str(batch), str(seq)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=str(HERE.parent))
    except subprocess.TimeoutExpired:
        return {"error": f"timeout after {timeout:.0f} s"}
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
    tail = (proc.stderr.strip().splitlines() or ["no output"])[-1][:160]
    return {"error": f"exit {proc.returncode}: {tail}"}


def _si(x: float) -> str:
    for unit, scale in (("E", 1e18), ("P", 1e15), ("T", 1e12), ("G", 1e9)):
        if x >= scale:
            return f"{x / scale:,.1f} {unit}"
    return f"{x:,.0f}"


def table(sweep: str, points: list[tuple[tuple[int, int, int], dict[str, Any]]]) -> str:
    lines = [f"Sweep: {sweep}\n",
             "| layers | batch | seq | ops traced (fwd / fwd+bwd) | floor s | profile s | x floor | "
             "train profile s | x floor | added MiB (inference / train) | FLOPs fwd | training peak |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for (layers, batch, seq), r in points:
        if "error" in r:
            lines.append(f"| {layers} | {batch} | {seq:,} | {r['error']} | | | | | | | | |")
            continue
        lines.append(
            f"| {layers} | {batch} | {seq:,} | {r['events']:,} / {r['train_events']:,} | "
            f"{r['floor_s']:.2f} | "
            f"{r['profile_s']:.2f} | {r['profile_s'] / r['floor_s']:.2f}x | {r['train_s']:.2f} | "
            f"{r['train_s'] / r['floor_s']:.2f}x | {r['added_mib']:,.0f} / {r['train_added_mib']:,.0f} | "
            f"{_si(r['flops'])} | {r['train_peak_bytes'] / 2**30:,.1f} GiB |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sweeps", default=",".join(SWEEPS),
                        help=f"comma-separated, from: {', '.join(SWEEPS)}")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per point")
    parser.add_argument("--json", type=Path, help="write the raw results here")
    parser.add_argument("--write", metavar="SECTION",
                        help="write the tables into docs/benchmarks.md between "
                             "<!-- BEGIN/END scaling:SECTION -->")
    parser.add_argument("--child", nargs=3, type=int, help=argparse.SUPPRESS)
    ns = parser.parse_args(argv)
    if ns.child:
        try:
            result = child(*ns.child)
        except Exception as exc:  # noqa: BLE001 - a failure is a result to report
            first = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else ""
            result = {"error": f"{type(exc).__name__}: {first}"}
        print("RESULT " + json.dumps(result), flush=True)
        return 0
    import run

    tables, raw = [], {}
    started = time.perf_counter()
    for sweep in [s for s in ns.sweeps.split(",") if s]:
        if sweep not in SWEEPS:
            parser.error(f"unknown sweep {sweep!r}; known: {', '.join(SWEEPS)}")
        points = []
        for point in SWEEPS[sweep]:
            r = run_point(*point, timeout=ns.timeout)
            points.append((point, r))
            shown = r.get("error") or f"floor {r['floor_s']:.2f} s, profile {r['profile_s']:.2f} s, " \
                                       f"train {r['train_s']:.2f} s, added {r['train_added_mib']:.0f} MiB"
            print(f"[{time.perf_counter() - started:6.1f} s] {sweep:8s} layers {point[0]:2d} "
                  f"batch {point[1]:2d} "
                  f"seq {point[2]:6d}: {shown}", file=sys.stderr, flush=True)
        raw[sweep] = [{"layers": p[0], "batch": p[1], "seq": p[2], **r} for p, r in points]
        tables.append(table(sweep, points))
    info = run.machine()
    command = " ".join(["python", "benchmarks/scaling.py", *(argv if argv is not None else sys.argv[1:])])
    header = (f"Machine: {info['cpu']}, {info['cores']} cores, {info['memory']}. Python {info['python']}, "
              f"torch {info['torch']}, transformers {info['transformers']}. netcensus: {info['commit']}. "
              f"{info['date']}.\n\nCommand: `{command}` "
              f"(one fresh process per point, one call of each).\n")
    text = header + "\n" + "\n\n".join(tables)
    print(text)
    if ns.json:
        ns.json.write_text(json.dumps({"machine": info, "sweeps": raw}, indent=1))
    if ns.write:
        run.write_section(f"scaling:{ns.write}", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
