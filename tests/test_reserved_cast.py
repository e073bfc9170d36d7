"""Reserved memory after the weights were cast on the GPU (``weights_cast_from``).

A model built in float32 on the GPU and then cast (``model.to(torch.bfloat16)``) leaves the freed
float32 blocks in the caching allocator: ``torch.cuda.memory_reserved`` keeps them. Oracles: the
allocator's segment rules in a closed form, and the H200's figures (tests/test_gpu_truth_memory.py: Llama
inference after such a cast, 6,268,387,328 bytes reserved, now met to the byte).
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

import netcensus
from netcensus.errors import SpecError

MiB = 1 << 20


def _linear() -> nn.Module:
    with torch.device("meta"):
        return nn.Linear(2560, 4096, bias=False).to(torch.bfloat16)


def test_the_cast_leaves_the_float32_segment_reserved() -> None:
    # The weight: 4096 x 2560 bf16 = 20 MiB, its own 20 MiB segment (>= 10 MiB: rounded to 2 MiB); the
    # input and output of a batch of 1 take a 2 MiB small-pool segment; the cuBLAS workspace (first
    # matmul) a 32 MiB segment: 54 MiB. Built in float32 first: a 40 MiB segment, alive while the bf16
    # copy is allocated beside it, then freed and cached; the workspace is carved from it (best fit,
    # split) instead of a segment of its own: 40 + 20 + 2 = 62 MiB, 8 MiB more.
    direct = netcensus.profile(_linear(), input_size=(1, 2560), dtype="bf16").memory.reserved
    cast = netcensus.profile(_linear(), input_size=(1, 2560), dtype="bf16", weights_cast_from="fp32").memory
    assert direct == 54 * MiB
    assert cast.reserved == 62 * MiB
    assert any("made in float32 on the device and cast" in a.meaning for a in cast.assumptions
               if a.name == "reserved")


def test_the_freed_block_is_carved_by_what_comes_next() -> None:
    # Batch 4096: input 4096 x 2560 bf16 = 20 MiB, output 4096 x 4096 bf16 = 32 MiB, no small blocks.
    # Direct: weight 20 + input 20 + workspace 32 + output 32 = 104 MiB. After the cast, the input takes
    # 20 MiB of the freed 40 MiB block; the 20 MiB left fit neither the workspace nor the output, which
    # get segments of their own: 40 + 20 + 32 + 32 = 124 MiB.
    direct = netcensus.profile(_linear(), input_size=(4096, 2560), dtype="bf16").memory.reserved
    cast = netcensus.profile(_linear(), input_size=(4096, 2560), dtype="bf16",
                             weights_cast_from="fp32").memory.reserved
    assert (direct, cast) == (104 * MiB, 124 * MiB)


def test_a_bad_dtype_is_refused() -> None:
    with pytest.raises(SpecError, match="weights_cast_from must be a floating dtype"):
        netcensus.profile(_linear(), input_size=(1, 2560), weights_cast_from="int8")


def test_weights_already_in_that_dtype_are_not_cast() -> None:
    # Module.to(float32) keeps a float32 tensor as it is: nothing is freed, reserved is unchanged.
    with torch.device("meta"):
        model = nn.Linear(2560, 4096, bias=False)
    direct = netcensus.profile(model, input_size=(1, 2560)).memory.reserved
    assert netcensus.profile(model, input_size=(1, 2560), weights_cast_from="fp32").memory.reserved == direct


def test_the_cli_takes_it() -> None:
    import json
    import subprocess
    import sys

    def reserved(*flags: str) -> int:
        run = subprocess.run([sys.executable, "-m", "netcensus", "--precision", "bf16", "--format", "json",
                              *flags], capture_output=True, text=True, check=True)
        return json.loads(run.stdout)["memory"]["reserved"]

    assert reserved("--weights-cast-from", "fp32") > reserved()
    bad = subprocess.run([sys.executable, "-m", "netcensus", "--weights-cast-from", "int8"],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "weights_cast_from must be a floating dtype" in bad.stderr
    assert "Traceback" not in bad.stderr
