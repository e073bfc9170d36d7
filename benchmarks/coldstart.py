"""A fresh process from start to finish: netcensus against torchinfo on the built-in AlexNet.

    python -m venv --system-site-packages benchmarks/.venv
    benchmarks/.venv/bin/pip install --no-deps -r benchmarks/requirements.txt
    benchmarks/.venv/bin/python benchmarks/coldstart.py [--repeat 5] [--baseline-src /tmp/before/src]

What a user pays for one call in a new Python process: interpreter start, ``import torch``, the tool's
import, building the model, and the tool's one call. Each script runs ``--repeat`` times, the scripts
taking turns (so load from other processes spreads over all of them); the table shows the median wall
time, its ratio to torchinfo's script, the minimum wall time, the median CPU time (user + system) of
the child, and the median peak RSS (``ru_maxrss`` of the child, printed by itself at exit). On a
shared machine the minimum and the CPU time move less with other processes' load than the median.
``floor`` is the same process with a plain real forward instead of a tool.

Bytecode: pip compiles an installed package's modules (``__pycache__``), and an editable install writes
them on its first import, unless ``PYTHONDONTWRITEBYTECODE`` is set; then every run compiles netcensus's
~100 modules again (about 0.25 s on 2 cores) while torch and torchinfo, installed with their bytecode, do
not. So the children run without that variable, after one untimed run of each script (which writes the
bytecode, as an install would have, and reads the files into the page cache).

Not part of the test suite: timings belong to the machine they were taken on.
"""

from __future__ import annotations

import argparse
import os
import resource
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


def _once(name: str, env: dict[str, str] | None = None, base: str | None = None
          ) -> tuple[float, float, int] | str:
    """(wall seconds, CPU seconds of the child, its peak RSS in KiB), or why it failed."""
    if name.endswith("-base"):  # the same script, importing netcensus from another source tree
        if base is None:
            return "not run: no --baseline-src"
        name = name.removesuffix("-base")
        env = dict(os.environ if env is None else env)
        env["PYTHONPATH"] = os.pathsep.join([os.path.abspath(base), *filter(None, [env.get("PYTHONPATH")])])
    if name == "netcensus-cli":
        cmd = [sys.executable, "-c", "import sys\nfrom netcensus.cli import run\ncode = run([])" + RSS +
               "sys.exit(code)"]
    else:
        cmd = [sys.executable, "-c", (SCRIPTS[name] or "") + RSS]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    if done.returncode:
        return done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit {done.returncode}"
    kib = int(next(line.split()[1] for line in done.stderr.splitlines() if line.startswith("RSS ")))
    return wall, cpu, kib


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--tools", default=",".join(SCRIPTS))
    ap.add_argument("--baseline-src", help="a src/ folder of another netcensus: adds netcensus-base and "
                    "netcensus-cli-base, the same scripts importing that one")
    a = ap.parse_args()
    tools = a.tools.split(",")
    if a.baseline_src:
        tools += [f"{t}-base" for t in ("netcensus", "netcensus-cli") if t in tools]
    runs: dict[str, list[tuple[float, float, int]]] = {t: [] for t in tools}
    failed: dict[str, str] = {}
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    for t in tools:  # untimed: writes the bytecode, loads the files into the page cache
        _once(t, env, a.baseline_src)
    for _ in range(a.repeat):
        for t in tools:
            if t in failed:
                continue
            r = _once(t, env, a.baseline_src)
            if isinstance(r, str):
                failed[t] = r
            else:
                runs[t].append(r)
    base = statistics.median(r[0] for r in runs["torchinfo"]) if runs.get("torchinfo") else None
    print(f"{'script':<19} {'median wall s':>13} {'vs torchinfo':>12} {'min wall s':>10} "
          f"{'median CPU s':>12} {'peak RSS MiB':>12}")
    for t in tools:
        if t in failed:
            print(f"{t:<19} {'failed: ' + failed[t][:60]}")
            continue
        wall = statistics.median(r[0] for r in runs[t])
        cpu = statistics.median(r[1] for r in runs[t])
        rss = statistics.median(r[2] for r in runs[t]) / 1024
        ratio = f"{wall / base:.2f}x" if base else "-"
        fastest = min(r[0] for r in runs[t])
        print(f"{t:<19} {wall:>13.2f} {ratio:>12} {fastest:>10.2f} {cpu:>12.2f} {rss:>12.0f}")
    print(f"({a.repeat} runs each, taking turns, after one untimed run each; "
          f"python {sys.version.split()[0]})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
