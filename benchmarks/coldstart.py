"""A fresh process from start to finish: netcensus against torchinfo on the built-in AlexNet.

    python -m venv --system-site-packages benchmarks/.venv
    benchmarks/.venv/bin/pip install --no-deps -r benchmarks/requirements.txt
    benchmarks/.venv/bin/python benchmarks/coldstart.py [--repeat 5]

What a user pays for one call in a new Python process: interpreter start, ``import torch``, the tool's
import, building the model, and the tool's one call. Each script runs ``--repeat`` times, the scripts
taking turns (so load from other processes spreads over all of them); the table shows the median wall
time and the median peak RSS (``ru_maxrss`` of the child, printed by itself at exit) and the ratio to
torchinfo's script. ``floor`` is the same process with a plain real forward instead of a tool.

Not part of the test suite: timings belong to the machine they were taken on.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

MODEL = "from netcensus.examples import alexnet\nmodel = alexnet()\n"
SCRIPTS = {
    "floor": "import torch\n" + MODEL + "with torch.no_grad():\n    model(torch.randn(1, 1, 224, 224))\n",
    "netcensus": "import torch, netcensus\n" + MODEL
                 + "netcensus.profile(model, input_size=(1, 1, 224, 224))\n",
    "netcensus-cli": None,  # the installed command, as a user runs it: `netcensus`
    "torchinfo": "import torch, torchinfo\n" + MODEL +
                 "torchinfo.summary(model, input_size=(1, 1, 224, 224), verbose=0)\n",
}
RSS = ("\nimport resource, sys\n"
       "print('RSS', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)\n")


def _once(name: str) -> tuple[float, int] | str:
    if name == "netcensus-cli":
        cmd = [sys.executable, "-c", "import sys\nfrom netcensus.cli import run\ncode = run([])" + RSS +
               "sys.exit(code)"]
    else:
        cmd = [sys.executable, "-c", SCRIPTS[name] + RSS]
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode:
        return done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit {done.returncode}"
    kib = int(next(line.split()[1] for line in done.stderr.splitlines() if line.startswith("RSS ")))
    return wall, kib


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--tools", default=",".join(SCRIPTS))
    a = ap.parse_args()
    tools = a.tools.split(",")
    runs: dict[str, list[tuple[float, int]]] = {t: [] for t in tools}
    failed: dict[str, str] = {}
    for _ in range(a.repeat):
        for t in tools:
            if t in failed:
                continue
            r = _once(t)
            if isinstance(r, str):
                failed[t] = r
            else:
                runs[t].append(r)
    base = statistics.median(w for w, _ in runs["torchinfo"]) if runs.get("torchinfo") else None
    print(f"{'script':<15} {'median wall s':>13} {'vs torchinfo':>12} {'peak RSS MiB':>12}")
    for t in tools:
        if t in failed:
            print(f"{t:<15} {'failed: ' + failed[t][:60]}")
            continue
        wall = statistics.median(w for w, _ in runs[t])
        rss = statistics.median(k for _, k in runs[t]) / 1024
        ratio = f"{wall / base:.2f}x" if base else "-"
        print(f"{t:<15} {wall:>13.2f} {ratio:>12} {rss:>12.0f}")
    print(f"({a.repeat} runs each, taking turns; python {sys.version.split()[0]})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
