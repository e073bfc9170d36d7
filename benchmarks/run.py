"""Time netcensus against the tools people use now, each in a fresh subprocess.

    python -m venv --system-site-packages benchmarks/.venv
    benchmarks/.venv/bin/pip install --no-deps -r benchmarks/requirements.txt
    benchmarks/.venv/bin/python benchmarks/run.py                      # everything (about 30 min)
    benchmarks/.venv/bin/python benchmarks/run.py --models resnet50,llama70b --tools floor,netcensus
    benchmarks/.venv/bin/python benchmarks/run.py --write after        # into docs/benchmarks.md

Not part of the test suite (nothing here is named ``test_*``, and pytest only looks in tests/).

For every model of benchmarks/zoo.py and every tool, a child process imports torch, the tool (and
transformers where the model needs it), builds the model, records its resident set size (RSS), then
runs the tool once and reports the tool's wall time and the process's peak RSS (``ru_maxrss``).
"Added" is the peak minus the RSS after the model was built. Each (model, tool) pair runs
``--repeat`` times in rounds (every pair once, then again), so load from other processes on the
machine spreads over all of them; the table shows the minimum time and the median peak RSS.

Tools
-----
* ``floor``: a plain forward of the meta-built model under ``torch.no_grad()``: the least any meta
  tracer can cost.
* ``netcensus``: ``netcensus.profile(model, inputs)``: params, shapes, FLOPs, inference memory.
* ``netcensus-train``: the same with ``train=True``: forward and backward traced, training memory.
* ``flopcounter``: ``torch.utils.flop_counter.FlopCounterMode`` around a meta forward (no_grad).
* ``torchinfo``, ``thop``, ``fvcore``, ``ptflops``: as their documentation shows them, on real
  tensors on the CPU (``torchinfo.summary(model, input_data=...)``, ``thop.profile``,
  ``FlopCountAnalysis(...).total()``, ``get_model_complexity_info(..., print_per_layer_stat=False)``).
  Models whose float32 weights exceed ``--mem-limit-gib`` are not run ("would need N GiB of real
  weights"). Each child runs under an address-space limit of ``--mem-limit-gib`` (plus what torch
  maps at import), so a run that needs more reports "out of memory" instead of swapping the machine.
* ``torchinfo-meta``, ``thop-meta``, ``fvcore-meta``, ``ptflops-meta``: the same tools handed the
  meta-built model and meta inputs; "no meta support" when they fail.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DOC = ROOT / "docs" / "benchmarks.md"

REAL_TOOLS = ("torchinfo", "thop", "fvcore", "ptflops")
ALL_TOOLS = ("floor", "netcensus", "netcensus-train", "netcensus-base", "netcensus-train-base",
             "flopcounter", "torchinfo", "thop", "fvcore", "ptflops", "torchinfo-meta", "thop-meta",
             "fvcore-meta", "ptflops-meta")
DEFAULT_TOOLS = tuple(t for t in ALL_TOOLS if not t.endswith("-base"))
DEFAULT_MODELS = ("resnet50", "resnet50_b64", "alexnet", "vit_b16", "bert_base", "gpt2", "lstm",
                  "llama7b", "llama70b")


# -- the parent ------------------------------------------------------------------------------------


def _skip_reason(model_name: str, tool: str, mem_limit_gib: float) -> str | None:
    import zoo

    if tool in REAL_TOOLS:
        need = zoo.real_weight_gib(model_name)
        if need > mem_limit_gib:
            return f"not run: would need {zoo.fmt_gib(need)} GiB of real weights"
    return None


def run_one(model_name: str, tool: str, timeout: float, mem_limit_gib: float,
            baseline: Path | None = None) -> dict[str, Any]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", model_name, tool,
           "--mem-limit-gib", str(mem_limit_gib)]
    env = dict(os.environ)
    if tool.endswith("-base"):
        if baseline is None:
            return {"ok": False, "error": "not run: no --baseline-src"}
        env["PYTHONPATH"] = os.pathsep.join([str(baseline.resolve())] + ([env["PYTHONPATH"]]
                                                                          if env.get("PYTHONPATH") else []))
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=str(ROOT), env=env)
    except subprocess.TimeoutExpired:
        return {"ok": False, "error": f"timeout after {timeout:.0f} s"}
    wall = time.perf_counter() - t0
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            result = json.loads(line[len("RESULT "):])
            result["process_s"] = wall
            return result
    if proc.returncode in (-9, 137):
        return {"ok": False, "error": "out of memory (killed)"}
    tail = (proc.stderr.strip().splitlines() or ["no output"])[-1][:160]
    return {"ok": False, "error": f"exit {proc.returncode}: {tail}"}


def machine() -> dict[str, str]:
    import importlib.metadata as md

    import torch

    cpu = platform.processor() or ""
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) / 2**20:.1f} GiB"
    except OSError:
        pass
    versions = {"python": platform.python_version(), "torch": torch.__version__}
    for pkg in ("transformers", "netcensus", "torchinfo", "thop", "fvcore", "ptflops"):
        try:
            versions[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            versions[pkg] = "not installed"
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                cwd=str(ROOT)).stdout.strip()
    except OSError:
        commit = "?"
    return {"cpu": cpu, "cores": str(os.cpu_count()), "memory": mem, "os": platform.platform(),
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "commit": commit, **versions}


def _fmt_time(s: float) -> str:
    return f"{s:.3f}" if s < 10 else f"{s:.1f}"


def _ratio(x: float) -> str:
    if x >= 100:
        return f"{x:,.0f}x"
    return f"{x:.1f}x" if x >= 10 else f"{x:.2f}x"


def summarize(results: dict[tuple[str, str], list[dict[str, Any]]]) -> dict[tuple[str, str], dict[str, Any]]:
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for key, runs in results.items():
        good = [r for r in runs if r.get("ok")]
        if not good:
            out[key] = {"ok": False, "error": runs[0].get("error", "?") if runs else "not run"}
            continue
        added = [max(0.0, r["peak_mib"] - r["rss_built_mib"]) for r in good]
        out[key] = {
            "ok": True, "runs": len(good), "time_s": min(r["time_s"] for r in good),
            "time_median_s": statistics.median(r["time_s"] for r in good),
            "second_s": min((r["second_s"] for r in good if r.get("second_s") is not None), default=None),
            "rss_built_mib": statistics.median(r["rss_built_mib"] for r in good),
            "peak_mib": statistics.median(r["peak_mib"] for r in good),
            "added_mib": statistics.median(added), "found": good[0]["found"], "device": good[0]["device"],
        }
    return out


def table(models: list[str], tools: list[str], summary: dict[tuple[str, str], dict[str, Any]]) -> str:
    import zoo

    lines = ["| model | tool | on | time s | x floor | 2nd call s | RSS built MiB | peak MiB | added MiB | "
             "netcensus faster by | found |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    for m in models:
        floor = summary.get((m, "floor"), {})
        nc = summary.get((m, "netcensus"), {})
        for t in tools:
            s = summary.get((m, t))
            if s is None:
                continue
            label = zoo.MODELS[m].label
            if not s["ok"]:
                lines.append(f"| {label} | {t} | | {s['error']} | | | | | | | |")
                continue
            x_floor = _ratio(s["time_s"] / floor["time_s"]) if floor.get("ok") else ""
            faster = ""
            ref = summary.get((m, "netcensus-train"), {}) if t == "netcensus-train-base" else nc
            if ref.get("ok") and t not in ("floor", "netcensus", "netcensus-train"):
                faster = _ratio(s["time_s"] / ref["time_s"])
            lines.append(
                f"| {label} | {t} | {s['device']} | {_fmt_time(s['time_s'])} | {x_floor} | "
                f"{_fmt_time(s['second_s']) if s.get('second_s') is not None else ''} | "
                f"{s['rss_built_mib']:,.0f} | {s['peak_mib']:,.0f} | {s['added_mib']:,.0f} | {faster} | "
                f"{s['found']} |")
    return "\n".join(lines)


def write_section(name: str, text: str, path: Path = DOC) -> None:
    begin, end = f"<!-- BEGIN {name} -->", f"<!-- END {name} -->"
    doc = path.read_text() if path.exists() else ""
    block = f"{begin}\n{text.rstrip()}\n{end}"
    if begin in doc and end in doc:
        head, rest = doc.split(begin, 1)
        doc = head + block + rest.split(end, 1)[1]
    else:
        doc = doc.rstrip() + "\n\n" + block + "\n"
    path.write_text(doc)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default=",".join(DEFAULT_MODELS))
    parser.add_argument("--tools", default=",".join(DEFAULT_TOOLS),
                        help=f"comma-separated, from: {', '.join(ALL_TOOLS)}")
    parser.add_argument("--baseline-src", type=Path,
                        help="a src/ folder of another netcensus version (e.g. `git archive` of an older "
                             "commit); adds the tools netcensus-base and netcensus-train-base, which import "
                             "netcensus from there, so two versions are timed side by side in one run")
    parser.add_argument("--label", help="what to call this netcensus in the header (default: git commit)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per (model, tool); min time is shown")
    parser.add_argument("--repeat-below", type=float, default=60.0,
                        help="repeat only pairs whose first run took less than this many seconds")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per child process")
    parser.add_argument("--mem-limit-gib", type=float, default=16.0)
    parser.add_argument("--json", type=Path, help="write the raw runs here")
    parser.add_argument("--write", metavar="SECTION",
                        help="write the table into docs/benchmarks.md between <!-- BEGIN/END run:SECTION -->")
    parser.add_argument("--child", nargs=2, metavar=("MODEL", "TOOL"), help=argparse.SUPPRESS)
    ns = parser.parse_args(argv)
    if ns.child:
        from child import child_main

        child_main(ns.child[0], ns.child[1], ns.mem_limit_gib)
        return 0
    sys.path.insert(0, str(HERE))
    import zoo

    models = [m for m in ns.models.split(",") if m]
    tools = [t for t in ns.tools.split(",") if t]
    for m in models:
        if m not in zoo.MODELS:
            parser.error(f"unknown model {m!r}; known: {', '.join(zoo.MODELS)}")
    for t in tools:
        if t not in ALL_TOOLS:
            parser.error(f"unknown tool {t!r}; known: {', '.join(ALL_TOOLS)}")
    results: dict[tuple[str, str], list[dict[str, Any]]] = {(m, t): [] for m in models for t in tools}
    started = time.perf_counter()
    for round_ in range(ns.repeat):
        for m in models:
            for t in tools:
                runs = results[(m, t)]
                if round_ > 0 and (not runs or not runs[0].get("ok")
                                   or runs[0].get("process_s", 0) > ns.repeat_below):
                    continue
                reason = _skip_reason(m, t, ns.mem_limit_gib)
                r = ({"ok": False, "error": reason} if reason
                     else run_one(m, t, ns.timeout, ns.mem_limit_gib, ns.baseline_src))
                if not r.get("ok") and t.endswith("-meta") and "timeout" not in r.get("error", ""):
                    r["error"] = f"no meta support ({r['error'][:90]})"
                runs.append(r)
                shown = (f"{r['time_s']:.3f} s, peak {r['peak_mib']:.0f} MiB" if r.get("ok")
                         else r.get("error"))
                print(f"[{time.perf_counter() - started:7.1f} s] round {round_ + 1} {m:14s} {t:16s} {shown}",
                      file=sys.stderr, flush=True)
    summary = summarize(results)
    command = " ".join(["python", "benchmarks/run.py", *(argv if argv is not None else sys.argv[1:])])
    info = machine()
    if ns.label:
        info["commit"] = ns.label
    text = table(models, tools, summary)
    header = (f"Machine: {info['cpu']}, {info['cores']} cores, {info['memory']}; {info['os']}. "
              f"Python {info['python']}, torch {info['torch']}, transformers {info['transformers']}, "
              f"torchinfo {info['torchinfo']}, thop {info['thop']}, fvcore {info['fvcore']}, "
              f"ptflops {info['ptflops']}. netcensus: {info['commit']}"
              + (f"; netcensus-base: {ns.baseline_src}" if ns.baseline_src else "") + f". {info['date']}.\n\n"
              f"Command: `{command}`"
              f" (time: minimum of up to {ns.repeat} runs, each in a fresh process; RSS: median).\n")
    print(header)
    print(text)
    if ns.json:
        ns.json.write_text(json.dumps({"machine": info, "args": vars(ns) | {"json": str(ns.json)},
                                       "runs": {f"{m}|{t}": v for (m, t), v in results.items()}},
                                      indent=1, default=str))
    if ns.write:
        write_section(f"run:{ns.write}", header + "\n" + text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
