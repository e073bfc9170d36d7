"""A new user's first ten minutes (issue 18), report side: every output correct, readable at 100
columns, no surprise.

Oracles: parameter counts from ``sum(p.numel())`` of the very modules; widths by ``len`` of every line;
the sharded optimizer-step figure from the unsharded run divided as ZeRO divides optimizer state.
"""

from __future__ import annotations

import re

import pytest
import torch
from report_models import BLOCK_PARAMS, TinyTransformer
from torch import nn

import netcensus
from netcensus.examples import ALEXNET_INPUT, alexnet
from netcensus.report.charts import charts
from netcensus.report.diff import collapsed_rows, render_diff
from netcensus.report.htmlpage import _short
from netcensus.report.table import compress_paths, render_table
from netcensus.units import nbytes


class Bottleneck(nn.Module):
    def __init__(self, cin: int, mid: int, down: bool = False):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, mid, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(mid)
        self.conv2 = nn.Conv2d(mid, mid, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(mid)
        self.conv3 = nn.Conv2d(mid, 4 * mid, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(4 * mid)
        self.relu = nn.ReLU()
        self.downsample = (nn.Sequential(nn.Conv2d(cin, 4 * mid, 1, bias=False), nn.BatchNorm2d(4 * mid))
                           if down else None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        return self.relu(y + (self.downsample(x) if self.downsample is not None else x))


class ResNetLike(nn.Module):
    """ResNet-50's shape in small: each stage is a downsampling block then identical blocks, so the
    table collapses ``layer2.1-3 x3`` after ``layer2.0`` (the case of torchvision's layer4)."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 16, 3, padding=1)
        self.layer1 = nn.Sequential(Bottleneck(16, 8, True), Bottleneck(32, 8), Bottleneck(32, 8))
        self.layer2 = nn.Sequential(Bottleneck(32, 16, True), *[Bottleneck(64, 16) for _ in range(3)])
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(64, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.pool(self.layer2(self.layer1(self.stem(x)))).flatten(1))


def _numel(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


@pytest.fixture(scope="module")
def resnet():
    model = ResNetLike()
    return model, netcensus.profile(model, input_size=(1, 3, 16, 16))


@pytest.fixture(scope="module")
def alex():
    return netcensus.profile(alexnet(), input_size=ALEXNET_INPUT)


@pytest.fixture(scope="module")
def gpt2():
    pytest.importorskip("transformers")
    from netcensus.load import load

    loaded = load("hf:gpt2", overrides={"n_layer": "4"}, seq=64)
    args, kwargs = loaded.inputs
    return netcensus.profile(loaded.model, inputs=args, input_kwargs=kwargs)


@pytest.fixture(scope="module")
def llama_train():
    pytest.importorskip("transformers")
    from netcensus.load import load

    loaded = load("hf:llama", overrides={"num_hidden_layers": "2", "hidden_size": "256",
                                         "intermediate_size": "688", "num_attention_heads": "4",
                                         "num_key_value_heads": "4"}, seq=64)
    args, kwargs = loaded.inputs
    return netcensus.profile(loaded.model, inputs=args, input_kwargs=kwargs, train=True)


# -- 2. charts count every block of a collapsed run -----------------------------------------------


def test_parameter_bars_count_every_block_of_a_collapsed_run(resnet):
    model, p = resnet
    bars = {b.label: b.value for b in charts(p)[0].bars}
    assert sum(bars.values()) == p.total_params == _numel(model)  # 62.6% before the fix
    stage = _numel(model.layer2)
    assert bars["layer2.1-3 x3 (Bottleneck)"] == 3 * _numel(model.layer2[1])
    assert bars["layer2.0 (Bottleneck)"] + bars["layer2.1-3 x3 (Bottleneck)"] == stage
    flops = charts(p)[2]
    assert flops.key == "flops" and sum(b.value for b in flops.bars) == p.flops


def test_a_collapsed_run_under_a_parent_bar_counts_k_times(resnet):
    model, p = resnet
    chart = next(c for c in charts(p, limit=3) if c.key == "params")
    bars = {b.label: b.value for b in chart.bars}
    assert bars.get("layer2 (Sequential)") == _numel(model.layer2)
    assert sum(bars.values()) == _numel(model)


# -- 3. the live peak cannot be read as the layer's own memory ------------------------------------


def test_the_peak_column_says_it_is_everything_live(llama_train):
    text = render_table(llama_train, 2)
    header = next(line for line in text.splitlines() if line.startswith("Layer"))
    assert "Live peak" not in header and "All-live peak" in header and "Saved for bwd" in header
    flat = " ".join(text.split())
    assert "All-live peak: everything live on the device" in flat and "not the module's own memory" in flat
    # what makes the name necessary: every layer's figure includes the whole model's state
    root = llama_train.layers[0]
    assert all(r.peak_bytes >= llama_train.memory.weights for r in llama_train.layers if r.calls)
    assert root.peak_bytes == max(r.peak_bytes for r in llama_train.layers)


# -- 4. a sharded report's optimizer-step assumption is per device ------------------------------


def test_sharded_optimizer_step_temporaries_are_per_device():
    def run(**shard):
        return netcensus.profile(TinyTransformer(), input_size="2x16:int64", train=True, **shard).memory

    whole, sharded = run(), run(shard="zero3", devices=8)
    step = {a.name: a.value for a in sharded.assumptions}["optimizer step temporaries"]
    assert whole.optimizer_step_temporaries > 0
    # ZeRO shards the optimizer over 8 devices; a shard rounds up to a whole byte
    assert sharded.optimizer_step_temporaries == -(-whole.optimizer_step_temporaries // 8)
    assert step == nbytes(sharded.optimizer_step_temporaries) != nbytes(whole.optimizer_step_temporaries)


# -- 8. 100 columns by default, columns by what was asked, a short footer, --width everywhere --------


@pytest.mark.parametrize("name", ["alex", "gpt2", "llama_train"])
def test_the_default_table_fits_100_columns(request, name):
    p = request.getfixturevalue(name)
    text = p.table()
    assert max(len(line) for line in text.splitlines()) <= 100, name
    for width in (60, 80, 132):
        assert max(len(line) for line in p.table(width=width).splitlines()) <= width, (name, width)
        assert max(len(line) for line in p.table(width=width, verbose=True).splitlines()) <= width


def test_columns_follow_what_was_asked(alex, llama_train):
    def header(text: str) -> str:
        return next(line for line in text.splitlines() if line.startswith("Layer"))

    plain = header(alex.table())
    assert "FLOPs" in plain and "Params" in plain and "Saved" not in plain and "peak" not in plain
    assert "Input shape" not in plain and "Own" not in plain  # --columns brings them
    assert "Saved for bwd" in header(alex.table(memory_columns=True))
    assert "Saved for bwd" in header(llama_train.table())  # a training trace shows its memory
    wide = header(alex.table(columns="+input,+own,+core_macs"))
    assert "Input shape" in wide and "Own" in wide and "Core MACs" in wide  # asked for: none left out


def test_a_cnn_footer_is_short_and_verbose_has_everything(alex):
    text = alex.table()
    lines = text.splitlines()
    footer = lines[next(i for i, x in enumerate(lines) if x.startswith("====")) + 1:]
    assert len(footer) <= 10, footer
    assert "attention = none seen" not in text and "sharding = none" not in text  # changed no number
    assert "Total params" in text and "46,764,746" in text and "Coverage:" in text
    assert "precision = fp32" in text  # the assumptions behind the peak are still named
    verbose = alex.table(verbose=True)
    assert "Assumptions:" in verbose and "attention = none seen:" in verbose
    assert "  trainable" in verbose and "Convention: 1 MAC = 2 FLOPs" in verbose
    assert alex.render("table", verbose=True) == verbose


def test_notes_name_runs_of_blocks_as_the_table_does():
    text = "not called in the trace: h.0.attn.drop, h.1.attn.drop, h.2.attn.drop, wte, h.4.x"
    assert compress_paths(text) == "not called in the trace: h.0-2.attn.drop, wte, h.4.x"
    assert compress_paths("tied: a.weight = b.weight") == "tied: a.weight = b.weight"


# -- 9. --explain collapses repeated blocks and groups the total's terms ---------------------------


def test_explain_collapses_blocks_and_groups_the_total(gpt2):
    short, full = gpt2.explain(), gpt2.render("table", explain=True, verbose=True)
    assert len(short.splitlines()) < len(full.splitlines()) / 2
    assert "transformer.h.0-3.attn.c_attn" in short and "transformer.h.1.attn" not in short
    total = next(line for line in short.splitlines() if line.startswith("Total = "))
    terms = total.split(" = ")[2].split(" + ")
    assert "4 x 7,087,872" in terms  # one GPT-2 block: 7,087,872 parameters (the table's per-block row)

    def value(term: str) -> int:
        k, _, n = term.rpartition(" x ")
        return int(k or 1) * int(n.replace(",", ""))

    assert sum(value(t) for t in terms) == gpt2.total_params
    full_total = next(x for x in full.splitlines() if x.startswith("Total = "))
    # verbose: every own term (wte, wpe, ln_f, and six per block: ln_1, c_attn, c_proj, ln_2, c_fc, c_proj)
    assert len(terms) == 4 and len(full_total.split(" + ")) == 3 + 4 * 6


# -- 10. input text: tensors only, with a count of the other arguments ------------------------------


def test_input_text_shows_tensors_and_counts_other_arguments():
    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(8, 8)

        def forward(self, x, past=None, mask=None, pos=None, flag=True):
            return self.fc(x) + (pos if pos is not None else 0)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.block = Block()

        def forward(self, x):
            return self.block(x, None, mask=None, pos=x[:, :1], flag=False)

    p = netcensus.profile(Net(), input_size=(2, 8))
    assert p.layer("block").input_text == "[2, 8], pos: [2, 1] (+3 args)"
    assert p.layer("block.fc").input_text == "[2, 8]"


def test_transformer_blocks_show_no_none(gpt2):
    text = gpt2.layer("transformer.h.0").input_text
    assert "None" not in text and text.startswith("[1, 64, 768]") and re.search(r"\(\+\d+ args?\)$", text)


# -- 11. short reprs -----------------------------------------------------------------------------


def test_reprs_are_short_and_readable(alex, llama_train):
    r = repr(alex)
    assert len(r) < 250 and r.startswith("Profile(Sequential") and "46,764,746 params" in r
    memory = repr(llama_train.memory)
    assert "\n" not in memory and memory.startswith("MemoryResult(training")
    assert "Assumptions:" in str(llama_train.memory) and "peak" in str(llama_train.memory)
    row = "LayerRow('14' Linear: 26,218,496 params, output [1, 4096], 52.43 M FLOPs)"
    assert repr(alex.layer("14")) == row
    assert repr(alex.compute).startswith("ComputeResult(FLOPs 1.88 G") and len(repr(alex.compute)) < 200

    class Printer:  # the part of IPython's pretty printer that _repr_pretty_ uses
        def __init__(self):
            self.out = ""

        def text(self, s):
            self.out += s

    printer = Printer()
    alex._repr_pretty_(printer, False)
    assert printer.out == str(alex)


def test_rich_shows_the_table_without_reading_markup(alex):
    pytest.importorskip("rich")
    assert alex.__rich__().plain == str(alex)


# -- 12. chart labels are cut at boundaries ------------------------------------------------------


@pytest.mark.parametrize("label", ["transformer.h.0-11.attn (GPT2Attention x12)",
                                   "model.layers.0-31.self_attn.q_proj (Linear x32)",
                                   "encoder.layer.0-11.attention.output.LayerNorm (LayerNorm x12)"])
def test_chart_labels_are_cut_at_path_and_word_boundaries(label):
    short = _short(label)
    assert len(short) <= 34
    words = set(re.split(r"[ .()]+", label))
    assert all(w in words for w in re.split(r"[ .()]+", short.replace("\u2026", "")) if w), short
    assert re.search(r"x\d+\)$", short)  # the block count survives


# -- 5. diff: collapsed blocks, tree order, no live-peak noise, --width -----------------------------


def test_diff_collapses_blocks_identical_on_both_sides():
    a = netcensus.profile(TinyTransformer(blocks=3), input_size="2x16:int64", depth=None)
    b = netcensus.profile(TinyTransformer(blocks=5), input_size="2x16:int64", depth=None)
    names = [r.name for r in collapsed_rows(a, b)]
    assert "blocks.0-2 x3" in names and "blocks.3-4 x2" in names and "blocks.1" not in " ".join(names)
    text = render_diff(a, b)
    assert max(len(line) for line in text.splitlines()) <= 100
    row = next(line for line in text.splitlines() if "blocks.3-4 x2" in line)
    assert row.startswith("+") and f"{BLOCK_PARAMS:,}" in row  # figures per block
    total = next(line for line in text.splitlines() if "= blocks.3-4 total" in line)
    assert f"{2 * BLOCK_PARAMS:,}" in total
    assert len(render_diff(a, b, expand=True).splitlines()) > len(text.splitlines())
    changed = render_diff(a, b, changed_only=True)
    assert "= blocks.3-4 total" in changed and "blocks.0-2" not in changed


def test_diff_keeps_uncalled_layers_under_their_parent():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.ModuleDict({"used": nn.Linear(4, 4), "spare": nn.Linear(4, 4)})
            self.b = nn.Linear(4, 2)

        def forward(self, x):
            return self.b(self.a["used"](x))

    p = netcensus.profile(Net(), input_size=(1, 4), depth=None)
    assert [r.path for r in p.layers][-1] == "a.spare"  # the profile lists it last
    rows = collapsed_rows(p, p)
    assert [r.pair.a.path for r in rows] == ["", "a", "a.used", "a.spare", "b"]


def test_diff_rows_carry_no_live_peak_noise():
    a = netcensus.profile(TinyTransformer(), input_size="2x16:int64", train=True, depth=None)
    b = netcensus.profile(TinyTransformer(), input_size="2x24:int64", train=True, depth=None)
    text = render_diff(a, b, width=160)
    header = next(line for line in text.splitlines() if "Layer" in line)
    assert "Peak" not in header and "dSaved" in header
    same = [line for line in text.splitlines()[3:] if line.startswith("   ") and "embed" in line]
    assert same == [] or all(c not in line for line in same for c in ("MiB",))
    assert "memory: peak" in text  # the peak is in the totals


def test_diff_honours_depth_and_width():
    a = netcensus.profile(TinyTransformer(), input_size="2x16:int64", depth=None)
    text = render_diff(a, a, depth=1)
    assert "blocks.0-2.attn" not in text and "rows deeper than depth 1" in text
    for width in (70, 90):
        assert max(len(line) for line in render_diff(a, a, width=width).splitlines()) <= width
