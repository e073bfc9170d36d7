"""Which of transformers' causal-LM model types netcensus traces: a training step on meta of each
model type's default config, through the CLI, one process per model (run by hand; about 25 minutes
for the 200 types of transformers 5.25 on two cores).

    python benchmarks/hf_scan.py [--jobs 2] [--seq 32] [TYPE ...]

Prints one Markdown row per model type: the CLI's exit code and, for a failure, its first error line
and whether transformers itself builds the model from the same default config on meta (``no``: the
default config is broken in this transformers, not a netcensus matter). A failure where transformers
builds the model is worth a look: run the plain model on CPU with a small config to see whether its
own forward works.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

_BUILDS = """
import sys, warnings
warnings.filterwarnings("ignore")
import torch
from transformers import AutoConfig, AutoModelForCausalLM
with torch.device("meta"):
    AutoModelForCausalLM.from_config(AutoConfig.for_model(sys.argv[1]))
"""


def _one(model_type: str, seq: int, out: Path) -> tuple[str, str, str, str]:
    cmd = [sys.executable, "-m", "netcensus", f"hf:{model_type}", "--batch", "1", "--seq", str(seq),
           "--train", "--precision", "bf16-mixed", "--format", "json", "-o", str(out / f"{model_type}.json")]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    except subprocess.TimeoutExpired:
        return model_type, "timeout", "", ""
    if done.returncode == 0:
        return model_type, "0", "", ""
    lines = [line for line in done.stderr.splitlines() if line.startswith("netcensus:")] or \
        done.stderr.strip().splitlines()[-1:]
    builds = subprocess.run([sys.executable, "-c", _BUILDS, model_type], capture_output=True, timeout=300)
    return model_type, str(done.returncode), (lines[0] if lines else "")[:160].replace("|", "/"), \
        "yes" if builds.returncode == 0 else "no"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("types", nargs="*")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--seq", type=int, default=32)
    args = parser.parse_args(argv)
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    types = args.types or sorted(MODEL_FOR_CAUSAL_LM_MAPPING_NAMES)
    print("| model type | exit | first error line | transformers builds it |")
    print("| --- | --- | --- | --- |")
    failed = 0
    with tempfile.TemporaryDirectory() as tmp, ThreadPoolExecutor(args.jobs) as pool:
        for model_type, code, message, builds in pool.map(lambda t: _one(t, args.seq, Path(tmp)), types):
            failed += code != "0"
            print(f"| {model_type} | {code} | {message} | {builds} |", flush=True)
    print(f"\n{len(types) - failed} of {len(types)} model types traced")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
