"""safetensors files: the header read directly (no package, no tensor data), checked against the file."""

from __future__ import annotations

import json
import struct

import pytest
import torch

from netcensus.errors import ModelLoadError
from netcensus.load import load


def write(path, header: dict, data_size: int, *, raw_header: bytes | None = None,
          declared: int | None = None):
    """A safetensors file by hand: u64 little-endian header length, the JSON header, then data bytes."""
    body = raw_header if raw_header is not None else json.dumps(header).encode()
    n = len(body) if declared is None else declared
    path.write_bytes(struct.pack("<Q", n) + body + bytes(data_size))
    return str(path)


HEADER = {
    "__metadata__": {"format": "pt"},
    "embed.weight": {"dtype": "BF16", "shape": [10, 4], "data_offsets": [0, 80]},
    "head.bias": {"dtype": "F32", "shape": [10], "data_offsets": [80, 120]},
    "step": {"dtype": "I64", "shape": [], "data_offsets": [120, 128]},
    "scale": {"dtype": "F8_E4M3", "shape": [3], "data_offsets": [128, 131]},
}


def test_hand_written_header(tmp_path):
    loaded = load(write(tmp_path / "m.safetensors", HEADER, 131))
    assert loaded.model is None and loaded.source == "safetensors"
    assert [tuple(t) for t in loaded.tensors] == [
        ("embed.weight", (10, 4), "bfloat16", 80), ("head.bias", (10,), "float32", 40),
        ("step", (), "int64", 8), ("scale", (3,), "float8_e4m3fn", 3)]
    assert loaded.total_elements == 40 + 10 + 1 + 3
    assert loaded.total_bytes == 131
    assert any("format=pt" in n for n in loaded.notes)


def test_content_decides_not_the_name(tmp_path):
    loaded = load(write(tmp_path / "weights.bin", HEADER, 131))
    assert loaded.source == "safetensors"


def test_file_written_by_the_safetensors_package(tmp_path):
    st = pytest.importorskip("safetensors.torch")
    tensors = {"a": torch.zeros(3, 5, dtype=torch.float16), "b.c": torch.zeros(7, dtype=torch.int32),
               "d": torch.zeros(2, 2, 2)}
    path = tmp_path / "pkg.safetensors"
    st.save_file(tensors, str(path), metadata={"who": "test"})
    loaded = load(str(path))
    got = {t.name: (t.shape, t.dtype, t.nbytes) for t in loaded.tensors}
    assert got == {k: (tuple(v.shape), str(v.dtype).removeprefix("torch."), v.numel() * v.element_size())
                   for k, v in tensors.items()}
    assert any("who=test" in n for n in loaded.notes)


def test_unknown_dtype_code_is_kept_with_its_byte_range(tmp_path):
    header = {"x": {"dtype": "F3_NEW", "shape": [8], "data_offsets": [0, 3]}}
    loaded = load(write(tmp_path / "new.safetensors", header, 3))
    assert loaded.tensors[0].dtype == "f3_new" and loaded.total_bytes == 3
    assert any("unknown" in n for n in loaded.notes)


@pytest.mark.parametrize("case,match", [
    ("data_truncated", "the file is truncated"),
    ("header_truncated", "it is truncated"),
    ("bad_json", "not valid JSON"),
    ("size_mismatch", "data_offsets span"),
    ("overlap", "overlap"),
    ("bad_shape", "not a list of non-negative integers"),
    ("tiny", "shorter than the 8-byte header length"),
])
def test_damaged_files_are_clear_errors(tmp_path, case, match):
    path = tmp_path / f"{case}.safetensors"
    if case == "data_truncated":
        write(path, HEADER, 100)  # the header promises 131 data bytes
    elif case == "header_truncated":
        write(path, HEADER, 0, declared=10_000)
    elif case == "bad_json":
        write(path, {}, 0, raw_header=b'{"a": [1, 2')
    elif case == "size_mismatch":
        write(path, {"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 12]}}, 12)
    elif case == "overlap":
        write(path, {"a": {"dtype": "U8", "shape": [4], "data_offsets": [0, 4]},
                     "b": {"dtype": "U8", "shape": [4], "data_offsets": [2, 6]}}, 6)
    elif case == "bad_shape":
        write(path, {"a": {"dtype": "U8", "shape": [-1], "data_offsets": [0, 0]}}, 0)
    else:
        path.write_bytes(b"\x01\x02")
    with pytest.raises(ModelLoadError, match=match) as info:
        load(str(path))
    assert path.name in str(info.value)


def test_sharded_index(tmp_path):
    write(tmp_path / "model-00001-of-00002.safetensors",
          {"a": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]}}, 16)
    write(tmp_path / "model-00002-of-00002.safetensors",
          {"b": {"dtype": "F16", "shape": [3], "data_offsets": [0, 6]}}, 6)
    index = tmp_path / "model.safetensors.index.json"
    index.write_text(json.dumps({"metadata": {"total_size": 22}, "weight_map": {
        "a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}}))
    loaded = load(str(index))
    assert [t.name for t in loaded.tensors] == ["a", "b"] and loaded.total_bytes == 22
    assert loaded.source == "safetensors"
    (tmp_path / "model-00002-of-00002.safetensors").unlink()
    with pytest.raises(ModelLoadError, match="missing"):
        load(str(index))
