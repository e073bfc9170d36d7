"""A cold ``netcensus`` run imports only what it needs (behaviour, not timing: benchmarks/coldstart.py
times it).

PyTorch's Python meta kernels import ``torch._dynamo`` (0.7-1.5 s on 2 cores) and, through
``torch._check``, ``torch.fx.experimental.symbolic_shapes`` and sympy (0.3-0.5 s) on their first call
in a process; profiling the built-in AlexNet, in the Python API and in the CLI, runs none of them
(trace/own_kernels.py). Each check runs in a fresh interpreter, where nothing was imported before.
"""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("torch._dynamo", "sympy", "torch.fx.experimental.symbolic_shapes", "torch._inductor")

_REPORT = (
    "\nimport json, sys\n"
    f"print(json.dumps({{'heavy': sorted(m for m in {HEAVY!r} if m in sys.modules), 'result': result}}))\n")


def _fresh(script: str) -> dict:
    done = subprocess.run([sys.executable, "-c", script + _REPORT], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_profiling_alexnet_imports_no_compiler_and_no_sympy():
    out = _fresh(
        "import torch, netcensus\n"
        "from netcensus.examples import alexnet\n"
        "r = netcensus.profile(alexnet(), input_size=(1, 1, 224, 224))\n"
        "result = [r.total_params, r.flops]\n")
    assert out["heavy"] == []
    # the same figures as ever (tests/test_compute_alexnet.py derives them): 46,764,746 parameters
    assert out["result"][0] == 46_764_746


def test_the_cli_example_imports_no_compiler_and_no_sympy():
    out = _fresh(
        "import contextlib, io\n"
        "from netcensus.cli import run\n"
        "with contextlib.redirect_stdout(io.StringIO()) as text:\n"
        "    code = run([])\n"
        "result = [code, '46,764,746' in text.getvalue()]\n")
    assert out["heavy"] == []
    assert out["result"] == [0, True]


def test_channels_last_resnet_block_imports_no_compiler_and_no_sympy():
    """Convolutions, eval-mode batch norms, in-place ReLUs, a residual add, adaptive average pooling and
    a Linear, in channels-last: the ops of a torchvision-style CNN."""
    out = _fresh(
        "import torch, netcensus\n"
        "from torch import nn\n"
        "class Block(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.stem = nn.Sequential(nn.Conv2d(3, 16, 7, 2, 3, bias=False), nn.BatchNorm2d(16),\n"
        "                                  nn.ReLU(inplace=True), nn.MaxPool2d(3, 2, 1))\n"
        "        self.body = nn.Sequential(nn.Conv2d(16, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16),\n"
        "                                  nn.ReLU(inplace=True), nn.Conv2d(16, 16, 3, 1, 1, bias=False),\n"
        "                                  nn.BatchNorm2d(16))\n"
        "        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 10))\n"
        "    def forward(self, x):\n"
        "        x = self.stem(x)\n"
        "        return self.head(torch.relu(self.body(x) + x))\n"
        "model = Block().to(memory_format=torch.channels_last)\n"
        "x = torch.randn(2, 3, 64, 64).to(memory_format=torch.channels_last)\n"
        "r = netcensus.profile(model, x)\n"
        "result = r.total_params\n")
    assert out["heavy"] == []
    assert out["result"] == (3 * 16 * 49 + 2 * 16 * 16 * 9) + 3 * 2 * 16 + 16 * 10 + 10
