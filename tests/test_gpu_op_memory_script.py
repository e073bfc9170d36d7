"""benchmarks/gpu_op_memory.py (the per-op allocator measurements a device session runs) works before
device time is spent on it: on CPU it records the step's op sequence and netcensus's rule beside each
convolution, with no allocator figures."""

from __future__ import annotations

import json

from scripts import load_script


def _load():
    return load_script("gpu_op_memory")


def test_cpu_smoke_run_records_every_convolution_with_its_rule(tmp_path):
    module = _load()
    out = tmp_path / "ops.json"
    argv = [str(out), "--device", "cpu", "--batch", "2", "--only", "convnet-b64-train-fp32-sgd"]
    assert module.main(argv) == 0
    rec = json.loads(out.read_text())["cases"][0]
    assert "error" not in rec, rec
    ops = rec["ops"]
    fwd = [o for o in ops if o["op"] == "convolution" and not o["backward"]]
    bwd = [o for o in ops if o["op"] == "convolution_backward" and o["backward"]]
    # ResNet-18's convolutions: the stem, 2 per basic block x 8 blocks, 3 downsampling 1x1: 1 + 16 + 3 = 20,
    # each once forward and once backward.
    assert len(fwd) == 20 and len(bwd) == 20
    # The stem: 3x224x224 in, 64x112x112 out, batch 2, float32: the output is the largest operand,
    # 2*64*112*112*4 = 6,422,528 bytes; the rule is 77/64 of it = 7,727,104.
    assert fwd[0]["outputs"][0] == [[2, 64, 112, 112], "float32"]
    assert fwd[0]["rule"] == 6_422_528 * 77 // 64 == 7_727_104
    # Its backward (weights only: the image needs no gradient) sees the same largest operand, the
    # gradient of the output.
    assert bwd[-1]["rule"] == 7_727_104
    # On CPU nothing is read from an allocator.
    assert all("transient" not in o for o in ops) and "segments" not in rec
