"""The command line, in-process and as a subprocess: exit codes, stdout, stderr."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from netcensus.cli import run


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = run(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_no_arguments_profiles_the_builtin_alexnet(capsys):
    code, out, err = _run(capsys)
    assert code == 0, err
    assert "46,764,746" in out
    assert "[1, 1, 224, 224]" in out and "[1, 96, 54, 54]" in out


def test_explain_shows_the_biases(capsys):
    code, out, _ = _run(capsys, "--explain")
    assert code == 0
    assert "4096*4096 + 4096 = 16,781,312" in out


def test_json_output_is_machine_readable(capsys):
    code, out, _ = _run(capsys, "--format", "json")
    assert code == 0
    data = json.loads(out)
    assert data["total_params"] == 46_764_746
    assert data["layers"][1]["output_shapes"] == [[1, 96, 54, 54]]


def test_file_spec_with_inputs_and_depth(tmp_path, capsys):
    path = tmp_path / "net.py"
    path.write_text(textwrap.dedent("""
        from torch import nn

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.body = nn.Sequential(nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU()), nn.Flatten())
                self.fc = nn.Linear(4 * 26 * 26, 10)

            def forward(self, x):
                return self.fc(self.body(x))
    """))
    code, out, err = _run(capsys, f"{path}:Net", "--input", "2x1x28x28", "--depth", "1")
    assert code == 0, err
    table = out.split("=" * 20)[0]  # the rows, not the lines under them (the peak names its op's module)
    assert "body.0.0" not in table and "fc" in table
    # conv (3*3*1 + 1)*4 = 40, fc 2704*10 + 10 = 27,050
    assert "27,090" in out


@pytest.mark.parametrize("argv,fragment", [
    (["no.such.module:Net", "--input", "1x3"], "cannot import 'no.such.module'"),
    (["netcensus.examples:nothing", "--input", "1x3"], "has no attribute 'nothing'"),
    (["netcensus.examples:ALEXNET_INPUT", "--input", "1x3"], "not a model"),
    (["netcensus.examples", "--input", "1x3"], "no ':'"),
    (["netcensus.examples:alexnet"], "no input shape"),
    (["--input", "1x1x32x32"], "MaxPool2d"),
    (["--input", "1x3x224x224"], "Conv2d"),
    (["--input", "1xfoo"], "not a shape"),
])
def test_usage_errors_exit_2_with_one_paragraph(capsys, argv, fragment):
    code, out, err = _run(capsys, *argv)
    assert code == 2
    assert fragment in err
    assert "Traceback" not in err
    assert err.count("\n") == 1  # one paragraph


def test_syntax_error_in_model_file(tmp_path, capsys):
    path = tmp_path / "broken.py"
    path.write_text("def f(:\n")
    code, _, err = _run(capsys, f"{path}:Net", "--input", "1x3")
    assert code == 2 and "syntax error at line 1" in err


def test_debug_shows_the_traceback(capsys):
    code, _, err = _run(capsys, "--input", "1x1x32x32", "--debug")
    assert code == 2 and "Traceback" in err


def test_subprocess_console_script_and_module():
    for cmd in (["netcensus"], [sys.executable, "-m", "netcensus"]):
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert "46,764,746" in done.stdout
    done = subprocess.run([sys.executable, "-m", "netcensus", "x.y:z", "--input", "1"], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 2 and "Traceback" not in done.stderr and "cannot import" in done.stderr


@pytest.mark.parametrize("argv,fragments", [
    (["--train", "--checkpointing", "nosuchthing"],
     ("'nosuchthing'", "matches no module", "'Conv2d'", "'all'")),
    (["--train", "--checkpointing", "0,Conv2D"], ("'Conv2D'", "did you mean 'Conv2d'",)),
    (["--checkpointing", "all,Linear"], ("'all' cannot be combined", "'Linear'")),
    (["--depth", "-1"], ("--depth must be 0 or more", "got -1", "--all")),
    (["--all", "--depth", "-2"], ("got -2",)),
    (["--width", "-3"], ("--width must be", "got -3")),
    (["--width", "0"], ("--width must be", "got 0")),
])
def test_bad_option_values_exit_2_with_one_line(capsys, argv, fragments):
    code, out, err = _run(capsys, *argv)
    assert code == 2, err
    assert not out
    assert err.count("\n") == 1 and err.startswith("netcensus: error: ") and "Traceback" not in err
    for fragment in fragments:
        assert fragment in err, (fragment, err)


@pytest.mark.parametrize("value", ["all", "blocks", "0,Linear", "Conv2d", "none"])
def test_checkpointing_forms_that_name_modules_or_keywords_work(capsys, value):
    code, out, err = _run(capsys, "--train", "--checkpointing", value, "--format", "json")
    assert code == 0, err
    memory = json.loads(out)["memory"]
    assert bool(memory["checkpointed"]) == (value != "none")


def test_depth_zero_is_the_model_alone(capsys):
    code, out, err = _run(capsys, "--depth", "0")
    assert code == 0, err
    assert "Conv2d" not in out.split("Total params")[0]


@pytest.mark.parametrize("sub", ["show", "diff"])
def test_show_and_diff_refuse_a_negative_depth_and_width(tmp_path, capsys, sub):
    saved = tmp_path / "p.json"
    assert _run(capsys, "-o", str(saved))[0] == 0
    files = [str(saved)] * (2 if sub == "diff" else 1)
    code, _, err = _run(capsys, sub, *files, "--depth", "-1")
    assert code == 2 and "got -1" in err and err.count("\n") == 1
    if sub == "show":
        code, _, err = _run(capsys, sub, *files, "--width", "-5")
        assert code == 2 and "got -5" in err and err.count("\n") == 1
