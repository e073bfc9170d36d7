"""The command line's options as a new user meets them, through the installed ``netcensus`` entry point:
bad values refused before any model is built, budgets that need a unit, suggestions when nothing fits,
and notes for choices that change nothing."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap

import pytest

EXE = shutil.which("netcensus")


def _netcensus(*argv: str, cwd=None) -> subprocess.CompletedProcess:
    cmd = [EXE, *argv] if EXE else [sys.executable, "-m", "netcensus", *argv]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=cwd)


@pytest.fixture()
def marked_model(tmp_path):
    """A model file that leaves a marker when its module runs: proof that the model was (not) built."""
    marker = tmp_path / "built"
    path = tmp_path / "net.py"
    path.write_text(textwrap.dedent(f"""
        import pathlib
        from torch import nn
        pathlib.Path({str(marker)!r}).write_text("built")
        def Net():
            return nn.Linear(4, 2)
    """))
    return f"{path}:Net", marker


@pytest.mark.parametrize("argv,fragment", [
    (["--precision", "bf16mixed"], "did you mean 'bf16-mixed'?"),
    (["--train", "--optimizer", "lion"], "'none' (None in Python)"),
    (["--shard", "zer3"], "did you mean 'zero3'?"),
    (["--fit", "lots"], "not a memory size"),
    (["--fit", "80"], "--fit 80GiB"),
])
def test_bad_options_are_refused_before_the_model_is_built(marked_model, argv, fragment):
    spec, marker = marked_model
    run = _netcensus(spec, "--input", "1x4", *argv)
    assert run.returncode == 2, run.stderr
    assert fragment in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1  # one paragraph, no traceback
    assert not marker.exists()


def test_nothing_fits_exits_4_and_says_what_could():
    run = _netcensus("--fit", "1MiB", "--train")  # AlexNet's weights alone are 178 MiB
    assert run.returncode == 4, run.stderr
    text = " ".join(run.stdout.split())  # the hints wrap at the width
    assert "nothing fits" in text
    assert "--shard zero3 --devices N" in text and "--checkpointing all" in text
    assert "--precision bf16-mixed" in text


def test_a_budget_that_fits_exits_0():
    run = _netcensus("--fit", "4GiB")
    assert run.returncode == 0, run.stderr
    assert "batch = " in run.stdout


def test_sharding_over_one_device_says_it_shards_nothing():
    run = _netcensus("--train", "--shard", "zero3", "--width", "200")
    assert run.returncode == 0, run.stderr
    assert "sharding zero3 over 1 device shards nothing" in run.stdout


def test_sharding_that_only_splits_training_state_says_so_for_inference():
    run = _netcensus("--shard", "zero2", "--devices", "8", "--width", "200")
    assert run.returncode == 0, run.stderr
    assert "changes nothing for inference" in run.stdout


def test_help_lists_the_subcommands():
    run = _netcensus("--help")
    assert run.returncode == 0
    for command in ("netcensus show FILE.json", "netcensus diff A B"):
        assert command in run.stdout
    for sub in ("show", "diff"):
        assert _netcensus(sub, "--help").returncode == 0


def test_a_misspelt_model_name_gets_a_did_you_mean_and_only_models_are_listed(tmp_path):
    path = tmp_path / "small.py"
    path.write_text(textwrap.dedent("""
        import torch
        import torch.nn.functional as F
        from torch import nn

        class SmallCNN(nn.Module):
            def __init__(self):
                super().__init__()
                self.conv = nn.Conv2d(1, 4, 3)

            def forward(self, x):
                return F.relu(self.conv(x))
    """))
    run = _netcensus(f"{path}:SmallCN", "--input", "1x1x8x8")
    assert run.returncode == 2
    assert f"did you mean {path}:SmallCNN?" in run.stderr
    assert "models available: SmallCNN" in run.stderr and "torch" not in run.stderr.split("available:")[1]


def test_multihead_attention_out_proj_is_not_reported_as_never_called():
    import torch  # noqa: F401 - the model below is built with torch.nn
    from torch import nn

    import netcensus

    model = nn.TransformerEncoder(nn.TransformerEncoderLayer(64, 4, 128, batch_first=True), 2,
                                  enable_nested_tensor=False)
    # target="cpu": the Python forward (on CUDA, inference runs the fused fast path, where no submodule
    # runs as a module: tests/test_encoder_fast_path.py)
    p = netcensus.profile(model, input_size=(2, 16, 64), target="cpu")
    # F.multi_head_attention_forward reads out_proj.weight directly: used, though its forward never runs
    assert not any("not called" in n for n in p.notes)
    row = p.layer("layers.0.self_attn.out_proj")
    assert row.calls == 0 and not row.not_called and "parent used its parameters" in row.explain[0]


def test_a_misspelt_hf_name_suggests_each_candidate_once_and_no_download_of_the_typo():
    pytest.importorskip("transformers")
    run = _netcensus("hf:gtp2")
    assert run.returncode == 2
    assert "did you mean hf:gpt2" in run.stderr and run.stderr.count("hf:gpt2 ") <= 1
    assert "download gtp2" not in run.stderr


def test_an_image_shape_given_to_a_language_model_gets_advice_about_the_model_input():
    pytest.importorskip("transformers")
    run = _netcensus("hf:gpt2", "--set", "n_layer=1", "--input", "1x3x224x224")
    assert run.returncode == 2
    assert "672x224" not in run.stderr.split("Fix:")[1]  # not the reshaped shape inside the model
    assert "--input 1x128:int64" in run.stderr
