"""The CLI with every kind of model source (the loader itself is tested in test_load_*.py)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest
import torch
from torch import nn

from netcensus.cli import run


def test_python_file_with_constructor_arguments(tmp_path, capsys):
    path = tmp_path / "mlp.py"
    path.write_text(textwrap.dedent("""
        from torch import nn

        class MLP(nn.Sequential):
            def __init__(self, width, depth=1):
                super().__init__(*[nn.Linear(width, width) for _ in range(depth)])
    """))
    assert run([f"{path}:MLP", "--arg", "16", "--kwarg", "depth=3", "--input", "2x16"]) == 0
    out = capsys.readouterr().out
    assert f"{3 * (16 * 16 + 16):,}" in out  # three Linear(16, 16): 3 * (16*16 + 16) = 816


def test_safetensors_file_is_a_parameter_census(tmp_path, capsys):
    header = {"w": {"dtype": "F32", "shape": [3, 4], "data_offsets": [0, 48]},
              "b": {"dtype": "BF16", "shape": [4], "data_offsets": [48, 56]}}
    raw = json.dumps(header).encode()
    path = tmp_path / "m.safetensors"
    path.write_bytes(len(raw).to_bytes(8, "little") + raw + bytes(56))
    assert run([str(path)]) == 0
    out = capsys.readouterr().out
    assert "16 elements" in out and "no code was run" in out  # 3*4 + 4
    assert run([str(path), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["total_elements"] == 16


def test_checkpoint_refuses_code(tmp_path, capsys):
    class Evil:
        def __reduce__(self):
            return (print, ("executed!",))

    path = tmp_path / "evil.pt"
    torch.save({"x": Evil()}, path)
    code = run([str(path)])
    out, err = capsys.readouterr()
    assert code == 2 and "executed!" not in out + err


def test_export_program_with_keyword_input(tmp_path, capsys):
    class Scale(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 4)

        def forward(self, x, scale: float = 1.0):
            return self.fc(x) * scale

    program = torch.export.export(Scale(), (torch.randn(2, 4),), {"scale": 2.0})
    path = tmp_path / "scale.pt2"
    torch.export.save(program, path)
    assert run([str(path)]) == 0
    out = capsys.readouterr().out
    assert "20" in out and "[2, 4]" in out  # Linear(4, 4): 4*4 + 4 = 20 params


def test_hf_sources_from_the_shipped_table():
    pytest.importorskip("transformers")
    done = subprocess.run([sys.executable, "-m", "netcensus", "hf:gpt2", "--seq", "32", "--depth", "1"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "124,439,808" in done.stdout  # GPT-2 small, tied embeddings
    assert "[1, 32, 50257]" in done.stdout


def test_hf_architecture_with_overrides(capsys):
    pytest.importorskip("transformers")
    assert run(["hf:llama", "--set", "num_hidden_layers=2", "--set", "hidden_size=64",
                "--set", "intermediate_size=128", "--set", "num_attention_heads=4",
                "--set", "num_key_value_heads=2", "--set", "vocab_size=100", "--depth", "1"]) == 0
    out = capsys.readouterr().out
    # embed 100*64; per layer: q 64*64, k and v 64*32 each, o 64*64, mlp 3*64*128, two norms of 64;
    # final norm 64; untied head 100*64
    layer = 64 * 64 + 2 * 64 * 32 + 64 * 64 + 3 * 64 * 128 + 2 * 64
    assert f"{100 * 64 + 2 * layer + 64 + 100 * 64:,}" in out


def test_hf_sub_config_override(capsys):
    pytest.importorskip("transformers")
    assert run(["hf:emu3", "--set", "text_config.num_hidden_layers=1", "--set", "text_config.hidden_size=64",
                "--set", "text_config.intermediate_size=128", "--set", "text_config.num_attention_heads=4",
                "--set", "text_config.num_key_value_heads=2", "--set", "text_config.vocab_size=160000",
                "--seq", "8", "--depth", "1"]) == 0
    out = capsys.readouterr().out
    # Emu3's text part is Llama-shaped: embed 160000*64 (the vocabulary must hold its special token ids,
    # 151,643 to 151,850); one layer: q 64*64, k and v 64*32 each, o 64*64, mlp 3*64*128, two norms of 64;
    # final norm 64; untied head 160000*64
    layer = 64 * 64 + 2 * 64 * 32 + 64 * 64 + 3 * 64 * 128 + 2 * 64
    assert f"{160000 * 64 + layer + 64 + 160000 * 64:,}" in out
    assert run(["hf:emu3", "--set", "text_config.num_hiden_layers=1"]) == 2
    err = capsys.readouterr().err
    assert "did you mean text_config.num_hidden_layers" in err and "Traceback" not in err


def test_unknown_source_is_a_usage_error(capsys):
    assert run(["hf:no-such-model-xyz"]) == 2
    assert "Traceback" not in capsys.readouterr().err
