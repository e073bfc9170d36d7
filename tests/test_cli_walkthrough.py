"""A new user's walk through the command line, run as the user runs it: the installed ``netcensus``
entry point in a subprocess. Each test pins a problem found while trying the product on five models
(the built-in AlexNet, a file model with a frozen part, a sweep, a fit and a transformers decode step):
the printed figures add up, every line fits the default 100 columns, and an option with nothing to act
on says so."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap

import pytest

WIDTH = 100

FROZEN_NET = textwrap.dedent("""
    import torch
    from torch import nn


    class Block(nn.Module):
        def __init__(self, d):
            super().__init__()
            self.fc = nn.Linear(d, d)
            self.unused = nn.Dropout(0.1)  # never called: named under the table

        def forward(self, x):
            return torch.relu(self.fc(x))


    class Net(nn.Module):
        def __init__(self, d=64, n=12):
            super().__init__()
            self.embed = nn.Linear(16, d)
            self.embed.requires_grad_(False)  # frozen: the table gets a Train column
            self.blocks = nn.ModuleList(Block(d) for _ in range(n))
            self.head = nn.Linear(d, 10)

        def forward(self, x):
            x = self.embed(x)
            for b in self.blocks:
                x = b(x)
            return self.head(x)
""")


def netcensus(*argv: str, cwd=None, code: int = 0) -> subprocess.CompletedProcess:
    """The installed entry point (``python -m netcensus`` where it is not on PATH), as printed to a pipe:
    no COLUMNS or FORCE_COLOR from the test's own terminal."""
    exe = shutil.which("netcensus")
    cmd = [exe] if exe else [sys.executable, "-m", "netcensus"]
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "FORCE_COLOR")}
    done = subprocess.run([*cmd, *argv], capture_output=True, text=True, cwd=cwd, timeout=300, env=env)
    assert done.returncode == code, done.stderr
    return done


def _too_wide(text: str) -> list[str]:
    return [line for line in text.splitlines() if len(line) > WIDTH]


def _bytes(line: str) -> int:
    return int(re.search(r"([\d,]+) B\b", line).group(1).replace(",", ""))


@pytest.fixture(scope="module")
def alexnet_json(tmp_path_factory) -> tuple:
    """`netcensus --memory --gpu H100 -o a.json`: the built-in example, inference, CUDA target."""
    path = tmp_path_factory.mktemp("alexnet") / "a.json"
    netcensus("--memory", "--gpu", "H100", "-o", str(path))
    return path, json.loads(path.read_text())


@pytest.fixture(scope="module")
def frozen(tmp_path_factory) -> tuple:
    """A file model with a frozen layer and 12 never-called modules, in a long-named folder: its training
    table (`netcensus FILE:Net --input 4x16 --train --kv-context 8`) and the same saved as JSON."""
    folder = tmp_path_factory.mktemp("models") / "a_folder_with_a_rather_long_name"
    folder.mkdir()
    (folder / "frozen_net.py").write_text(FROZEN_NET)
    spec = f"{folder / 'frozen_net.py'}:Net"
    done = netcensus(spec, "--input", "4x16", "--train", "--kv-context", "8")
    out = folder / "f.json"
    netcensus(spec, "--input", "4x16", "--train", "-o", str(out))
    return folder, out, done


def test_memory_lines_in_the_peak_add_up_to_the_peak(alexnet_json):
    # Every figure printed as part of an inference peak (weights, inputs, temporaries, library
    # workspaces, allocator rounding) must sum to the printed peak. The cuDNN convolution workspace
    # live at AlexNet's peak (conv 8) was left out of "library workspaces", 6,370,099 B short.
    path, data = alexnet_json
    text = netcensus("show", str(path), "--memory").stdout
    block = text[text.index("Memory (inference step"):text.index("Assumptions:")]
    parts = ("weights", "inputs", "temporaries at the peak", "library workspaces (in the peak)",
             "allocator rounding (in the peak)")
    lines = {p: next(x for x in block.splitlines() if x.strip().startswith(p)) for p in parts}
    peak = _bytes(next(x for x in block.splitlines() if x.strip().startswith("peak")))
    assert peak == data["memory"]["peak"]
    assert sum(_bytes(x) for x in lines.values()) == peak
    assert "made of: weights 178.39 MiB" in block  # AlexNet's float32 weights: 46,764,746 * 4 B
    md = netcensus("show", str(path), "--memory", "--format", "md").stdout
    workspaces = data["memory"]["peak_at"]["breakdown"]["workspaces"]
    assert f"| library workspaces (in the peak) | {workspaces:,} B |" in md
    assert f"| reserved by the allocator (est.) (nvidia-smi shows this plus the CUDA context) | " \
           f"{data['memory']['reserved']:,} B |" in md


def test_the_step_time_block_fits_100_columns(alexnet_json):
    path, _ = alexnet_json
    text = netcensus("show", str(path)).stdout
    assert "Step time on H100-SXM" in text and "  layer " in text
    assert _too_wide(text) == []
    assert "(optimizer 0 us)" not in text  # inference: no optimizer step to time


def test_an_option_with_nothing_to_act_on_says_so(frozen):
    _, _, done = frozen
    # a note of the report (Profile.notes), so JSON and Python users see it too
    assert "kv_context=8 gave no KV cache: the trace has no" in done.stdout
    assert "scaled_dot_product_attention" in done.stdout and "kv_context" not in done.stderr


def test_the_loader_notes_wrap(frozen):
    folder, _, done = frozen
    assert len(f"{folder}/frozen_net.py:Net (Net built by Net() on meta)") > WIDTH
    assert done.stdout.startswith(str(folder)) and _too_wide(done.stdout) == []


def test_train_column_is_kept_before_shapes_when_parameters_are_frozen(frozen):
    _, _, done = frozen
    text = done.stdout
    header = next(line for line in text.splitlines() if line.startswith("Layer"))
    assert "Train" in header and "Output shape" not in header
    assert re.search(r"^  embed +1,088  no ", text, re.M)  # 16*64 + 64, frozen
    assert _too_wide(text) == []


def test_a_cut_list_of_never_called_modules_is_still_compressed(frozen):
    # The analysis lists 8 of the 12 never-called modules and counts the rest; the report writes the run
    # once.
    _, _, done = frozen
    assert "note: not called in the trace: blocks.0-7.unused and 4 more\n" in done.stdout


def test_by_op_leaves_out_a_useless_formula_column_and_counts_modules(frozen):
    _, out, _ = frozen
    text = netcensus("show", str(out), "--by-op").stdout
    assert "(left out to fit 100 characters: Formula (first call); choose a larger --width)" in text
    mm = next(line for line in text.splitlines() if line.startswith("aten.mm.default"))
    assert mm.endswith("head +12")  # head, then the 12 block Linears' weight gradients
    assert _too_wide(text) == []
    wide = netcensus("show", str(out), "--by-op", "--width", "250").stdout
    assert "Formula (first call)" in wide


def test_diff_title_of_a_training_trace(alexnet_json, frozen):
    a, _ = alexnet_json
    _, f, _ = frozen
    text = netcensus("diff", str(a), str(f)).stdout
    title = text.splitlines()[1]
    assert title.endswith("train mode, forward + backward"), title


def test_fit_states_the_rounding_the_polynomial_leaves_out(frozen):
    folder, _, _ = frozen
    spec = f"{folder / 'frozen_net.py'}:Net"
    text = netcensus(spec, "--input", "4x16", "--train", "--fit", "100MiB").stdout
    assert _too_wide(text) == []
    flat = re.sub(r"\n +", " ", text)
    value = int(re.search(r"batch = ([\d,]+):", flat).group(1).replace(",", ""))
    peak = int(re.search(r"batch = [\d,]+: peak [^(]*\(([\d,]+) B\)", flat).group(1).replace(",", ""))
    m = re.search(r"peak at the answer = ([\d ]+)·b \+ ([\d ]+) \+ ([\d,]+) B of allocator rounding", flat)
    slope, const, rest = (int(g.replace(" ", "").replace(",", "")) for g in m.groups())
    assert slope * value + const + rest == peak
    assert f"{value:,} -> " in flat  # the sizes tried, written as every other count


def test_sweep_lines_fit_100_columns(frozen):
    folder, _, _ = frozen
    text = netcensus("sweep", f"{folder / 'frozen_net.py'}:Net", "--input", "4x16", "--batch", "1,2,4,8",
                     "--budget", "100MiB").stdout
    assert "sweep of the inference step: 4 point(s)" in re.sub(r"\n +", " ", text)
    assert _too_wide(text) == []
    assert [line for line in text.splitlines() if line != line.rstrip()] == []


def test_decode_step_title_and_notes():
    pytest.importorskip("transformers")
    text = netcensus("hf:gpt2", "--set", "n_layer=3", "--decode", "--kv-context", "64", "--batch", "2").stdout
    assert "note: inputs:" not in text  # the loader's 2x128 prompt is not what a decode step runs
    flat = re.sub(r"\n +", " ", text)
    assert "input input_ids=[2, 1] int64, cache=DynamicCache(layers=[DynamicLayer x3])" in flat


def test_serve_a_mixture_of_experts():
    transformers = pytest.importorskip("transformers")
    import torch

    done = netcensus("serve", "hf:mixtral", "--seq", "16", "--kv-context", "32", "--weights", "nf4")
    # the loader's notes (on stderr: "no config named 'mixtral': ...", 112 characters) wrap too
    assert "note: no config named 'mixtral'" in done.stderr and _too_wide(done.stderr) == []
    assert _too_wide(done.stdout) == []
    with torch.device("meta"):
        model = transformers.MixtralForCausalLM(transformers.MixtralConfig())
    total = sum(p.numel() for p in model.parameters())  # 46,702,792,704: Mixtral 8x7B's published 46.7 B
    assert f"total params {total:,}" in re.sub(r"\n +", " ", done.stdout)
    # uniform routing: 16 prompt tokens x top-2 / 8 experts = 4 token-expert pairs each
    assert "token-expert pairs per expert in the prefill: 4, 4, 4, 4, 4, 4, 4, 4" in done.stdout


def test_fit_hints_name_a_sequence_only_where_there_is_one():
    # the built-in AlexNet's dim 1 is channels: no "--seq" hint; an hf: model's dim 1 is the sequence
    done = netcensus("--fit", "10MiB", code=4)
    assert "what could make it fit" in done.stdout
    assert "--seq" not in done.stdout and "sequence" not in done.stdout
