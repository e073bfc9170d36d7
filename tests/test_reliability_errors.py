"""Every bad input gets a clear answer: a catalogue of bad inputs, each with the exception the API must
raise, fragments its one-paragraph message must contain (and must not), and the CLI's exit status.

One table, ``CATALOGUE``: each row is tried through the Python API and, where it has one, through the
command line in-process (``netcensus.cli.run``: exit status, stderr is exactly one line
``netcensus: error: ...`` with no traceback). Rows whose model needs real values are also re-run with
``device='cpu'`` (``--device cpu``), the fallback the message recommends, which must succeed. A few rows
run as real subprocesses. A row marked xfail (none today) says what fix it waits for.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import torch
import zoo_big as Z
from torch import nn

import netcensus
from netcensus import InputError, ModelLoadError, SpecError, TraceError, UnsupportedOpsError
from netcensus.cli import run
from netcensus.examples import alexnet
from netcensus.errors import MemoryConfigError
from netcensus.load import load_model

TESTS = Path(__file__).resolve().parent
ZOO_FILE = TESTS / "zoo_big.py"

# Files the model-spec rows point at ({files}/NAME in a row's argv).
FILES = {
    "syntax_error.py": "def broken(:\n    pass\n",
    "null_bytes.py": "\x00\x01garbage\n",
    "import_error.py": "import a_package_that_does_not_exist_anywhere\n",
    "raises_at_import.py": "raise RuntimeError('the config file is missing')\n",
    "exits.py": "import sys\nsys.exit(0)\n",
    "script_required.py": textwrap.dedent("""
        import argparse
        parser = argparse.ArgumentParser()
        parser.add_argument("--lr", type=float, required=True)
        args = parser.parse_args()
        from torch import nn
        Net = nn.Linear
    """),
    "script_optional.py": textwrap.dedent("""
        import argparse
        parser = argparse.ArgumentParser()
        parser.add_argument("--width", type=int, default=4)
        args = parser.parse_args()
        from torch import nn
        def Net():
            return nn.Linear(args.width, 2)
    """),
    "values.py": textwrap.dedent("""
        from torch import nn
        x = 3
        def make():
            return 5
        def needs_args(width):
            return nn.Linear(width, 2)
        class NotAModule:
            pass
    """),
    "notes.txt": "this is not a model\n",
}


class _Planted:
    """Unpickling this would create the file ``planted`` next to the checkpoint: the proof that code
    from a checkpoint ran. netcensus must refuse the checkpoint instead."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (self.marker, "w"))


def _checkpoints(root: Path) -> None:
    """Saved files that are corrupt, empty, not a checkpoint, or carry code in their pickle."""
    import pickle
    import struct

    torch.save(nn.Linear(4, 3).state_dict(), root / "good.pt")
    data = (root / "good.pt").read_bytes()
    (root / "truncated.pt").write_bytes(data[: len(data) // 2])
    (root / "empty.pt").write_bytes(b"")
    (root / "random.pt").write_bytes(bytes(range(7, 256)) * 2)
    torch.save({"weight": torch.zeros(2), "payload": _Planted(str(root / "planted"))}, root / "code.pt")
    with open(root / "code_legacy.pt", "wb") as f:
        pickle.dump({"weight": _Planted(str(root / "planted"))}, f)
    (root / "huge_header.safetensors").write_bytes(struct.pack("<Q", 10**12) + b"{}")
    header = json.dumps({"w": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 1000]}}).encode()
    (root / "short.safetensors").write_bytes(struct.pack("<Q", len(header)) + header + bytes(16))


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("bad_specs")
    for name, text in FILES.items():
        (root / name).write_text(text)
    _checkpoints(root)
    return root


@dataclass(frozen=True)
class Bad:
    """One bad input. ``api(files, device)`` must raise ``error``; ``cli`` (``{files}`` stands for the
    generated files' folder) must exit with ``exit_code``; messages contain every ``fragment`` and no
    ``absent`` text. ``fallback``: with device='cpu' (``--device cpu``) the same call succeeds."""

    id: str
    error: type[BaseException]
    fragments: tuple[str, ...]
    exit_code: int
    api: Callable[[Path, str], Any] | None = None
    cli: tuple[str, ...] | None = None
    absent: tuple[str, ...] = ()
    fallback: bool = False
    xfail: str | None = None


def _p(model: Callable[[], nn.Module], **kw: Any) -> Callable[[Path, str], Any]:
    """An API call: profile a fresh model with these options (device from the caller)."""
    def call(files: Path, device: str) -> Any:
        return netcensus.profile(model(), **{"device": device, **kw})

    return call


def _load(spec: str) -> Callable[[Path, str], Any]:
    def call(files: Path, device: str) -> Any:
        return load_model(spec.format(files=files))

    return call


def _file(name: str) -> Callable[[Path, str], Any]:
    def call(files: Path, device: str) -> Any:
        from netcensus.load import load

        return load(str(files / name))

    return call


def _meta_model_on_cpu(files: Path, device: str) -> Any:
    with torch.device("meta"):
        model = nn.Linear(4, 3)
    return netcensus.profile(model, input_size=(2, 4), device="cpu")


def _meta_inputs_on_cpu(files: Path, device: str) -> Any:
    return netcensus.profile(nn.Linear(4, 3), inputs=torch.zeros(2, 4, device="meta"), device="cpu")


def _conv() -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 8, 5), nn.ReLU(), nn.MaxPool2d(2))


def _flatten_net() -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(), nn.Linear(4 * 6 * 6, 2))


NEEDS_CUDA_ABSENT = torch.cuda.is_available()

CATALOGUE: list[Bad] = [
    # -- inputs that do not fit the layers ------------------------------------------------------------
    Bad("conv_input_too_small", InputError, ("input too small", "smallest H_in that works is"), 2,
        api=_p(_conv, input_size=(1, 3, 3, 3)), cli=("zoo_big:SmallCNN", "--input", "1x3x1x1")),
    Bad("pool_input_too_small", InputError, ("MaxPool2d", "too small"), 2,
        api=_p(lambda: nn.Sequential(nn.Conv2d(3, 4, 3), nn.MaxPool2d(4)), input_size=(1, 3, 4, 4)),
        cli=("--input", "1x1x32x32")),
    Bad("zero_spatial_size", InputError, ("too small",), 2, api=_p(_conv, input_size=(1, 3, 0, 32)),
        cli=("zoo_big:SmallCNN", "--input", "1x3x0x8")),
    Bad("wrong_channels", InputError, ("C_in=3", "got 4"), 2, api=_p(_conv, input_size=(1, 4, 32, 32)),
        cli=("zoo_big:SmallCNN", "--input", "1x4x8x8")),
    Bad("channels_last_input", InputError, ("channels-last",), 2, api=_p(_conv, input_size=(1, 32, 32, 3)),
        cli=("zoo_big:SmallCNN", "--input", "1x8x8x3")),
    Bad("wrong_number_of_dims", InputError, ("4-D input", "2-D input"), 2, api=_p(_conv, input_size=(3, 32)),
        cli=("zoo_big:SmallCNN", "--input", "3x8")),
    Bad("linear_features_mismatch", InputError, ("in_features=4", "got 5"), 2,
        api=_p(lambda: nn.Linear(4, 3), input_size=(2, 5)), cli=("zoo_big:Caching", "--input", "2x5")),
    Bad("flattened_map_wrong_size", InputError, ("map before the Flatten", "AdaptiveAvgPool2d("), 2,
        api=_p(_flatten_net, input_size=(1, 3, 7, 7)), cli=("--input", "1x1x256x256")),
    Bad("scalar_input", InputError, ("at least 1 dim",), 2, api=_p(lambda: nn.Linear(4, 3), input_size=())),
    Bad("lazy_module_not_materialised", InputError, ("uninitialized lazy parameter", "run the model once"),
        2, api=_p(Z.lazy_unmaterialised, input_size=(2, 4)),
        cli=("zoo_big:lazy_unmaterialised", "--input", "2x4")),
    # -- wrong dtypes, missing or extra inputs --------------------------------------------------------
    Bad("float_ids_into_embedding", InputError, ("integer indices", "2x5:int64"), 2,
        api=_p(Z.TiedLM, input_size=(2, 5)), cli=("zoo_big:TiedLM", "--input", "2x5")),
    Bad("int_input_into_float_linear", TraceError, ("different dtypes", "int64 and float32"), 2,
        api=_p(lambda: nn.Linear(4, 3), input_size="2x4:int64"),
        cli=("zoo_big:Caching", "--input", "2x4:int64")),
    Bad("half_input_into_float_conv", TraceError, ("type", "should be the same"), 2,
        api=_p(_conv, input_size="1x3x8x8:fp16"), cli=("zoo_big:SmallCNN", "--input", "1x3x8x8:fp16")),
    Bad("half_input_into_float_linear", TraceError, ("different dtypes", "float16 and float32"), 2,
        api=_p(lambda: nn.Linear(4, 3), input_size="2x4:fp16"),
        cli=("zoo_big:Caching", "--input", "2x4:fp16")),
    Bad("batch_norm_of_another_dtype", TraceError, ("1 (BatchNorm2d)", "requires them all in one dtype"), 2,
        api=_p(lambda: nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4).double()),
               input_size=(1, 3, 8, 8))),
    Bad("missing_input", InputError, ("forward(left, right)", "missing a required argument: 'right'"), 2,
        api=_p(Z.TwoInputs, input_size=(2, 4)), cli=("zoo_big:TwoInputs", "--input", "2x4")),
    Bad("extra_input", InputError, ("forward(x)", "too many positional arguments"), 2,
        api=_p(Z.Caching, input_size=[(2, 4), (2, 4)]),
        cli=("zoo_big:Caching", "--input", "2x4", "--input", "2x4")),
    Bad("unknown_keyword_input", InputError, ("has no parameter 'middle'",), 2,
        api=_p(Z.TwoInputs, input_size=["left=2x4", "middle=2x5"]),
        cli=("zoo_big:TwoInputs", "--input", "left=2x4", "--input", "middle=2x5")),
    Bad("no_inputs", SpecError, ("no input",), 2, api=_p(lambda: nn.Linear(4, 3)), cli=("zoo_big:TiedLM",)),
    Bad("inputs_and_input_size", SpecError, ("both inputs= and input_size=",), 2,
        api=_p(lambda: nn.Linear(4, 3), inputs=torch.zeros(2, 4), input_size=(2, 4))),
    # -- shapes that are not shapes ----------------------------------------------------------------
    Bad("negative_dimension", SpecError, ("negative dimension -4",), 2,
        api=_p(lambda: nn.Linear(4, 3), input_size=(2, -4)), cli=("zoo_big:Caching", "--input", "2x-4")),
    Bad("absurd_dimension", SpecError, ("absurd dimension 1,000,000,000,000",), 2,
        api=_p(lambda: nn.Linear(4, 3), input_size=(10**12, 4)),
        cli=("zoo_big:Caching", "--input", "1000000000000x4")),
    Bad("too_many_elements", SpecError, ("elements", "2**63"), 2,
        api=_p(lambda: nn.Linear(4, 3), input_size=(2**30, 2**30, 4)),
        cli=("zoo_big:Caching", "--input", "1073741824x1073741824x4")),
    Bad("non_integer_dimension", SpecError, ("non-integer dimension 2.5",), 2,
        api=_p(lambda: nn.Linear(4, 3), input_size=(2.5, 4))),
    Bad("shape_text_not_a_shape", SpecError, ("is not a shape", "1x3x224x224"), 2,
        api=_p(lambda: nn.Linear(4, 3), input_size="2xx4"), cli=("zoo_big:Caching", "--input", "2x4.5")),
    Bad("unknown_dtype", SpecError, ("unknown dtype 'float33'", "bfloat16"), 2,
        api=_p(lambda: nn.Linear(4, 3), input_size=(2, 4), dtype="float33"),
        cli=("zoo_big:Caching", "--input", "2x4:float33")),
    Bad("bad_keyword_name", SpecError, ("not a valid keyword name",), 2,
        api=_p(lambda: nn.Linear(4, 3), input_size="2-x=2x4"), cli=("zoo_big:Caching", "--input", "=2x4")),
    # -- options ---------------------------------------------------------------------------------------
    Bad("not_a_module", SpecError, ("needs a torch.nn.Module", "got function"), 2,
        api=lambda f, d: netcensus.profile(lambda x: x, input_size=(2, 4))),
    Bad("module_class_not_instance", SpecError, ("got type",), 2,
        api=lambda f, d: netcensus.profile(nn.Linear, input_size=(2, 4))),
    Bad("bad_mode", SpecError, ("mode must be", "'test'"), 2,
        api=_p(lambda: nn.Linear(4, 3), input_size=(2, 4), mode="test")),
    Bad("unknown_device", SpecError, ("unknown device 'tpu9'", "meta"), 2,
        api=_p(lambda: nn.Linear(4, 3), input_size=(2, 4), device="tpu9"),
        cli=("--input", "1x1x224x224", "--device", "tpu9"), absent=("factory",)),
    pytest.param(Bad("unavailable_device", SpecError, ("'cuda' is not available",), 2,
                     api=_p(lambda: nn.Linear(4, 3), input_size=(2, 4), device="cuda")),
                 marks=pytest.mark.skipif(NEEDS_CUDA_ABSENT, reason="this machine has CUDA")),
    pytest.param(Bad("unavailable_device_cli", SpecError, ("'cuda' is not available",), 2,
                     cli=("--input", "1x1x224x224", "--device", "cuda"), absent=("alexnet()",)),
                 marks=pytest.mark.skipif(NEEDS_CUDA_ABSENT, reason="this machine has CUDA")),
    Bad("unknown_optimizer", MemoryConfigError, ("unknown optimizer 'adamz'", "adamw"), 2,
        api=_p(lambda: nn.Linear(4, 3), input_size=(2, 4), train=True, optimizer="adamz"),
        cli=("--train", "--optimizer", "adamz")),
    Bad("unknown_precision", MemoryConfigError, ("unknown precision 'fp12'", "bf16-mixed"), 2,
        api=_p(lambda: nn.Linear(4, 3), input_size=(2, 4), precision="fp12"), cli=("--precision", "fp12")),
    Bad("unknown_sharding", MemoryConfigError, ("unknown sharding 'zero9'", "zero3"), 2,
        api=_p(lambda: nn.Linear(4, 3), input_size=(2, 4), train=True, shard="zero9", devices=2),
        cli=("--train", "--shard", "zero9", "--devices", "2")),
    Bad("negative_kv_context", SpecError, ("kv_context", "-5"), 2,
        api=_p(lambda: nn.Linear(4, 3), input_size=(2, 4), kv_context=-5), cli=("--kv-context", "-5")),
    Bad("unknown_checkpointing_target", MemoryConfigError,
        ("'layers.9'", "matches no module path or class name", "did you mean 'layers.", "'BasicBlock'",
         "'all'"), 2, api=_p(Z.TinyResNet, input_size=(2, 3, 8, 8), train=True, checkpointing=["layers.9"]),
        cli=("zoo_big:TinyResNet", "--input", "2x3x8x8", "--train", "--checkpointing", "layers.9")),
    Bad("checkpointing_target_typo", MemoryConfigError, ("'Conv2D'", "did you mean 'Conv2d'"), 2,
        api=_p(alexnet, input_size=(1, 1, 224, 224), train=True, checkpointing="Conv2D"),
        cli=("--train", "--checkpointing", "nosuchthing,Conv2D")),
    Bad("negative_depth", SpecError, ("depth must be", "got -1"), 2,
        api=_p(lambda: nn.Linear(4, 3), input_size=(2, 4), depth=-1), cli=("--depth", "-1")),
    Bad("negative_width", SpecError, ("--width must be", "got -3"), 2, cli=("--width", "-3")),
    Bad("unknown_memory_unit", MemoryConfigError, ("unknown unit 'XB'",), 2, cli=("--fit", "12XB")),
    Bad("unknown_column", SpecError, ("unknown column 'bogus'",), 2, cli=("--columns", "bogus")),
    Bad("unknown_sort_key", SpecError, ("cannot sort by 'nothing'",), 2, cli=("--sort", "nothing")),
    Bad("output_folder_missing", SpecError, ("No such file or directory", "no/such/dir/out.json"), 2,
        cli=("-o", "{files}/no/such/dir/out.json"), absent=("internal error",)),
    Bad("meta_weights_run_on_cpu", SpecError, ("on the meta device", "holds no values"), 2,
        api=_meta_model_on_cpu),
    Bad("meta_inputs_run_on_cpu", SpecError, ("input tensor", "on the meta device"), 2,
        api=_meta_inputs_on_cpu),
    # -- model specs -----------------------------------------------------------------------------------
    Bad("spec_module_does_not_import", ModelLoadError, ("cannot import 'no.such.module'",), 2,
        api=_load("no.such.module:Net"), cli=("no.such.module:Net", "--input", "1x3")),
    Bad("spec_syntax_error", ModelLoadError, ("syntax error at line 1",), 2,
        api=_load("{files}/syntax_error.py:Net"), cli=("{files}/syntax_error.py:Net", "--input", "1x3")),
    Bad("spec_null_bytes", ModelLoadError, ("not valid Python source", "null bytes"), 2,
        api=_load("{files}/null_bytes.py:Net"), cli=("{files}/null_bytes.py:Net", "--input", "1x3"),
        absent=("line None",)),
    Bad("spec_import_raises", ModelLoadError, ("the config file is missing",), 2,
        api=_load("{files}/raises_at_import.py:Net"),
        cli=("{files}/raises_at_import.py:Net", "--input", "1")),
    Bad("spec_missing_dependency", ModelLoadError, ("a_package_that_does_not_exist_anywhere",), 2,
        api=_load("{files}/import_error.py:Net"), cli=("{files}/import_error.py:Net", "--input", "1")),
    Bad("spec_no_such_attribute", ModelLoadError, ("has no attribute 'nothing'", "available:"), 2,
        api=_load("netcensus.examples:nothing"), cli=("netcensus.examples:nothing", "--input", "1x3")),
    Bad("spec_factory_returns_non_module", ModelLoadError, ("make() returned a int",), 2,
        api=_load("{files}/values.py:make"), cli=("{files}/values.py:make", "--input", "1x3")),
    Bad("spec_names_a_value", ModelLoadError, ("'x' is a int, not a model",), 2,
        api=_load("{files}/values.py:x"), cli=("{files}/values.py:x", "--input", "1x3")),
    Bad("spec_class_not_a_module", ModelLoadError, ("not a torch.nn.Module subclass",), 2,
        api=_load("{files}/values.py:NotAModule"), cli=("{files}/values.py:NotAModule", "--input", "1")),
    Bad("spec_factory_needs_arguments", ModelLoadError, ("missing 1 required positional argument",), 2,
        api=_load("{files}/values.py:needs_args"), cli=("{files}/values.py:needs_args", "--input", "1")),
    Bad("spec_without_colon", SpecError, ("'netcensus.examples'", "pkg.module:attr"), 2,
        api=_load("netcensus.examples"), cli=("netcensus.examples", "--input", "1x3")),
    Bad("spec_without_module", SpecError, ("':Net' is not MODULE:NAME",), 2, api=_load(":Net"),
        cli=(":Net", "--input", "1x3")),
    Bad("spec_file_missing", ModelLoadError, ("no such file",), 2,
        api=_load("{files}/nothing_here.py:Net"), cli=("{files}/nothing_here.py:Net", "--input", "1x3")),
    Bad("spec_file_not_python", ModelLoadError, ("not a Python file",), 2,
        api=_load("{files}/notes.txt:Net"), cli=("{files}/notes.txt:Net", "--input", "1x3")),
    Bad("spec_import_calls_sys_exit", ModelLoadError, ("sys.exit(0)", "__main__"), 2,
        api=_load("{files}/exits.py:Net"), cli=("{files}/exits.py:Net", "--input", "1x3")),
    # -- saved files (a parameter census, nothing unpickled beyond weights) ---------------------------
    Bad("checkpoint_truncated", ModelLoadError, ("truncated or corrupt",), 2,
        api=_file("truncated.pt"), cli=("{files}/truncated.pt",)),
    Bad("checkpoint_empty", ModelLoadError, ("empty (0 bytes)",), 2,
        api=_file("empty.pt"), cli=("{files}/empty.pt",)),
    Bad("checkpoint_random_bytes", ModelLoadError, ("not a file netcensus reads",), 2,
        api=_file("random.pt"), cli=("{files}/random.pt",)),
    Bad("checkpoint_with_code", ModelLoadError, ("refused", "weights_only=True", "no code from it runs"), 2,
        api=_file("code.pt"), cli=("{files}/code.pt",)),
    Bad("legacy_pickle_with_code", ModelLoadError, ("refused", "no code from it runs"), 2,
        api=_file("code_legacy.pt"), cli=("{files}/code_legacy.pt",)),
    Bad("safetensors_header_too_long", ModelLoadError, ("not a valid safetensors file", "truncated"), 2,
        api=_file("huge_header.safetensors"), cli=("{files}/huge_header.safetensors",)),
    Bad("safetensors_data_too_short", ModelLoadError, ("tensor 'w' ends at byte 1,000", "truncated"), 2,
        api=_file("short.safetensors"), cli=("{files}/short.safetensors",)),
    # -- forwards that cannot run on meta --------------------------------------------------------------
    Bad("data_dependent_item", TraceError, ("real tensor values", "device='cpu'", "--device cpu"), 2,
        api=_p(Z.DataDependentItem, input_size=(2, 4)), cli=("zoo_big:DataDependentItem", "--input", "2x4"),
        fallback=True),
    Bad("data_dependent_branch", TraceError, ("real tensor values", "--device cpu"), 2,
        api=_p(Z.DataDependentBranch, input_size=(2, 4)),
        cli=("zoo_big:DataDependentBranch", "--input", "2x4"), fallback=True),
    Bad("data_dependent_nonzero", TraceError, ("real tensor values", "--device cpu"), 2,
        api=_p(Z.DataDependentNonzero, input_size=(2, 4)),
        cli=("zoo_big:DataDependentNonzero", "--input", "2x4"), fallback=True),
    Bad("data_dependent_mask", TraceError, ("real tensor values", "--device cpu"), 2,
        api=_p(Z.MaskedSelect, input_size=(2, 4)), cli=("zoo_big:MaskedSelect", "--input", "2x4"),
        fallback=True),
    Bad("numpy_in_forward", TraceError, ("real tensor values", "--device cpu"), 2,
        api=_p(Z.NumpyInForward, input_size=(2, 4)), cli=("zoo_big:NumpyInForward", "--input", "2x4"),
        fallback=True),
    Bad("forward_refuses_meta", TraceError, ("refuses meta tensors", "--device cpu"), 2,
        api=_p(Z.RefusesMeta, input_size=(2, 4)), cli=("zoo_big:RefusesMeta", "--input", "2x4"),
        absent=("shapes and dtypes",), fallback=True),
    Bad("backward_refuses_cpu", TraceError, ("has no backward on cpu", "drop --device"), 2,
        api=_p(Z.NoCpuBackward, input_size=(2, 4), train=True, device="cpu"),
        cli=("zoo_big:NoCpuBackward", "--input", "2x4", "--train", "--device", "cpu"),
        absent=("shapes and dtypes",)),
    Bad("aten_op_without_meta_kernel", TraceError, ("cannot run on meta", "--device cpu"), 2,
        api=_p(Z.UniqueOnMeta, input_size=(2, 4)), cli=("zoo_big:UniqueOnMeta", "--input", "2x4"),
        fallback=True),
    Bad("custom_op_without_meta_kernel", TraceError, ("netcensus_test.no_fake", "cannot run on meta",
                                                      "--device cpu"), 2,
        api=_p(Z.CustomOpNoMeta, input_size=(2, 4)), cli=("zoo_big:CustomOpNoMeta", "--input", "2x4"),
        fallback=True),
    Bad("plain_tensor_attribute_on_meta", TraceError, ("table (cpu)", "register_buffer", "--device cpu"), 2,
        api=_p(Z.PlainTensorAttribute, input_size=(2, 4, 6)), fallback=True),
    # -- forwards that fail, strict coverage ------------------------------------------------------------
    Bad("forward_raises_part_way", TraceError, ("Boom", "gave up half way"), 2,
        api=_p(Z.RaisesPartWay, input_size=(2, 3, 6, 6)),
        cli=("zoo_big:RaisesPartWay", "--input", "2x3x6x6"), absent=(" in op ",)),
    Bad("container_without_forward", TraceError, ("has no forward",), 2,
        api=_p(Z.model_list, input_size=(2, 4)), cli=("zoo_big:model_list", "--input", "2x4")),
    Bad("forward_recurses_forever", TraceError, ("recursion limit",), 2,
        api=_p(Z.SelfRecursive, input_size=(2, 4)), cli=("zoo_big:SelfRecursive", "--input", "2x4")),
    Bad("strict_with_unsupported_op", UnsupportedOpsError,
        ("netcensus_test.no_formula", "no compute formula"), 3,
        api=_p(Z.CustomOpNoFormula, input_size=(2, 3), strict=True),
        cli=("zoo_big:CustomOpNoFormula", "--input", "2x3", "--strict")),
    Bad("keyboard_interrupt", KeyboardInterrupt, ("interrupted",), 130,
        api=_p(Z.InterruptedPartWay, input_size=(2, 4)),
        cli=("zoo_big:InterruptedPartWay", "--input", "2x4")),
]


def _rows(kind: str) -> list[Any]:
    out = []
    for row in CATALOGUE:
        param = row if isinstance(row, Bad) else None
        bad = param or row.values[0]
        if getattr(bad, kind) is None:
            continue
        marks = [] if param else list(row.marks)
        if bad.xfail:
            marks.append(pytest.mark.xfail(strict=True, reason=bad.xfail))
        out.append(pytest.param(bad, id=bad.id, marks=marks))
    return out


def _all() -> list[Bad]:
    return [row if isinstance(row, Bad) else row.values[0] for row in CATALOGUE]


def test_the_catalogue_is_big_enough():
    rows = _all()
    assert len(rows) >= 30
    assert len({r.id for r in rows}) == len(rows)
    assert sum(r.cli is not None for r in rows) >= 30


@pytest.mark.parametrize("bad", _rows("api"))
def test_api_raises_one_clear_error(bad: Bad, files: Path):
    assert bad.api is not None
    with pytest.raises(bad.error) as info:
        bad.api(files, "meta")
    error = info.value
    if isinstance(error, netcensus.NetcensusError):
        text = str(error)
        assert "\n" not in text, "one paragraph"
        assert error.exit_code == bad.exit_code
        assert "Traceback" not in text
        for fragment in bad.fragments:
            if not fragment.startswith("--"):  # CLI spellings are checked on the CLI
                assert fragment in text, (fragment, text)
        for fragment in bad.absent:
            assert fragment not in text, (fragment, text)
    if bad.fallback:
        result = bad.api(files, "cpu")
        assert result.device == "cpu"


def _argv(bad: Bad, files: Path) -> list[str]:
    assert bad.cli is not None
    return [a.format(files=files) for a in bad.cli]


@pytest.mark.parametrize("bad", _rows("cli"))
def test_cli_exits_with_one_paragraph(bad: Bad, files: Path, capsys: pytest.CaptureFixture[str]):
    code = run(_argv(bad, files))
    out, err = capsys.readouterr()
    assert code == bad.exit_code, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    if bad.error is KeyboardInterrupt:
        assert lines == ["netcensus: interrupted"]
    else:
        assert len(lines) == 1 and lines[0].startswith("netcensus: error: "), err
        for fragment in bad.fragments:
            if not fragment.startswith("device="):  # Python spellings are checked on the API
                assert fragment in err, (fragment, err)
        for fragment in bad.absent:
            assert fragment not in err, (fragment, err)
    if bad.exit_code == 3:
        assert out.strip(), "a strict failure still prints the report"
    if bad.fallback:
        code = run(_argv(bad, files) + ["--device", "cpu"])
        out, err = capsys.readouterr()
        assert code == 0, err
        assert out.strip()


def test_a_script_that_parses_its_command_line_at_import_still_loads(files: Path, capsys):
    """The script sees ``sys.argv == [FILE]`` while netcensus imports it, not netcensus's own flags."""
    code = run([f"{files}/script_optional.py:Net", "--input", "2x4"])
    _, err = capsys.readouterr()
    assert code == 0, err


def test_a_script_that_exits_at_import_is_one_error(files: Path, capsys):
    """argparse prints its own usage before exiting; netcensus's paragraph is the last line."""
    code = run([f"{files}/script_required.py:Net", "--input", "2x4"])
    _, err = capsys.readouterr()
    assert code == 2
    assert "Traceback" not in err


def test_a_script_that_exits_at_import_says_so(files: Path, capsys):
    code = run([f"{files}/script_required.py:Net", "--input", "2x4"])
    _, err = capsys.readouterr()
    assert code == 2
    assert err.strip().splitlines()[-1].startswith("netcensus: error: ")
    assert "sys.exit(2)" in err


@pytest.mark.parametrize("build", [
    Z.bf16_mlp, Z.fp16_mlp,
    Z.fp64_mlp,
], ids=["bfloat16", "float16", "float64"])
def test_models_in_other_dtypes_profile_with_default_options(build, capsys):
    """A bfloat16, float16 or float64 model is a good input: the default options must not refuse it."""
    model = build()
    dtype = str(next(model.parameters()).dtype).removeprefix("torch.")
    p = netcensus.profile(model, input_size=f"2x8:{dtype}", train=True)
    assert p.total_params == sum(q.numel() for q in model.parameters())
    code = run([f"zoo_big:{build.__name__}", "--input", f"2x8:{dtype}"])
    assert code == 0, capsys.readouterr().err


SUBPROCESS_ROWS = ["conv_input_too_small", "data_dependent_item", "strict_with_unsupported_op",
                   "spec_import_calls_sys_exit", "keyboard_interrupt"]
ENV = {**os.environ, "PYTHONWARNINGS": "ignore"}


def _subprocess(argv: list[str]) -> subprocess.CompletedProcess[str]:
    argv = [a.replace("zoo_big:", f"{ZOO_FILE}:") for a in argv]  # as a user outside the suite would
    return subprocess.run([sys.executable, "-m", "netcensus", *argv], capture_output=True, text=True,
                          timeout=300, env=ENV)


@pytest.mark.parametrize("bad", [p for p in _rows("cli") if p.id in SUBPROCESS_ROWS])
def test_subprocess_exit_status_and_stderr(bad: Bad, files: Path):
    """The command in a real process (each costs a torch import, so only a few rows)."""
    done = _subprocess(_argv(bad, files))
    assert done.returncode == bad.exit_code, done.stderr
    assert "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_subprocess_debug_adds_the_traceback(files: Path):
    bad = next(b for b in _all() if b.id == "data_dependent_item")
    done = _subprocess([*_argv(bad, files), "--debug"])
    assert done.returncode == bad.exit_code
    assert "Traceback" in done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith("netcensus: error: ")


def test_the_loaded_model_from_a_file_is_the_zoo_model():
    """Guard for the subprocess rows: a zoo model named by file path loads as the same class name."""
    model = load_model(f"{ZOO_FILE}:TwoInputs")
    assert type(model).__name__ == "TwoInputs"


def test_alexnet_error_names_the_layer_and_the_input():
    with pytest.raises(InputError) as info:
        netcensus.profile(alexnet(), input_size=(1, 1, 32, 32))
    assert info.value.where and "MaxPool2d" in str(info.value)
    assert "[1, 1, 32, 32]" in str(info.value)


def test_no_code_from_a_checkpoint_ever_runs(files: Path, capsys):
    """The planted pickles were tried above; here, explicitly, neither left its marker, and a good
    checkpoint next to them still gives its census."""
    from netcensus.load import load

    for name in ("code.pt", "code_legacy.pt"):
        with pytest.raises(ModelLoadError):
            load(str(files / name))
        assert run([str(files / name)]) == 2
    assert not (files / "planted").exists()
    assert run([str(files / "good.pt")]) == 0
    assert "15" in capsys.readouterr().out  # 4*3 + 3 parameters
