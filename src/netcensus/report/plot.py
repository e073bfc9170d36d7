"""``--plot FILE.png|svg``: the charts of :mod:`.charts` drawn with matplotlib (the ``plot`` extra).

matplotlib is imported here only, with the non-interactive Agg backend; without it the error says
which extra to install.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import SpecError
from .charts import charts
from .table import runs

if TYPE_CHECKING:
    from ..results.profile import Profile

KINDS = ("params", "flops", "memory")
COLORS = {"params": "#3b7dd8", "flops": "#d8873b", "memory": "#4aa068"}


def pyplot(what: str, path: str | None = None, extensions: tuple[str, ...] = ("png", "svg")) -> Any:
    """matplotlib's pyplot on the file-only Agg backend, for ``what`` (e.g. "--plot"), after checking that
    ``path`` ends in one of ``extensions``; :class:`SpecError` saying what to do when either fails."""
    if path is not None:
        ext = path.lower().rsplit(".", 1)[-1] if "." in path else ""
        if ext not in extensions:
            raise SpecError(f"{what} writes {' or '.join('.' + e for e in extensions)} files, not {path!r}",
                            fix="name the file " + " or ".join(f"FILE.{e}" for e in extensions))
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise SpecError(f"{what} needs matplotlib, which is not installed",
                        fix='pip install "netcensus[plot]" (or pip install matplotlib)') from exc
    return plt


def save_plot(profile: Profile, path: str) -> None:
    """Bar charts of where the parameters, FLOPs and memory go, saved to ``path`` (.png or .svg)."""
    plt = pyplot("--plot", path)
    shown = [c for c in charts(profile) if c.key in KINDS and c.bars]
    heights = [max(len(c.bars), 2) * 0.32 + 0.9 for c in shown]
    fig, axes = plt.subplots(len(shown), 1, figsize=(9, sum(heights)),
                             gridspec_kw={"height_ratios": heights}, squeeze=False)
    for ax, chart in zip(axes[:, 0], shown):
        labels = [b.label for b in chart.bars][::-1]
        values = [b.value for b in chart.bars][::-1]
        bars = ax.barh(range(len(values)), values, color=COLORS[chart.key])
        ax.set_yticks(range(len(values)), labels, fontsize=8)
        ax.bar_label(bars, labels=[b.text for b in chart.bars][::-1], padding=3, fontsize=8)
        ax.set_title(f"{chart.title}: {chart.total_text}", fontsize=10, loc="left")
        ax.set_xticks([])
        top = max(values, default=0)
        ax.set_xlim(0, top * 1.45 if top else 1)
        for side in ("top", "right", "bottom"):
            ax.spines[side].set_visible(False)
    fig.suptitle(f"{profile.model}  |  input {runs(profile.inputs)}", fontsize=11)
    fig.tight_layout()
    ext = path.lower().rsplit(".", 1)[-1]
    fig.savefig(path, format=ext, metadata={"Date": None} if ext == "svg" else None)
    plt.close(fig)
