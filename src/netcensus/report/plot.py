"""``--plot FILE.png|svg``: the charts of :mod:`.charts` drawn with matplotlib (the ``plot`` extra).

matplotlib is imported here only, with the non-interactive Agg backend; without it the error says
which extra to install.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import SpecError
from .charts import charts

if TYPE_CHECKING:
    from ..results.profile import Profile

KINDS = ("params", "flops", "memory")
COLORS = {"params": "#3b7dd8", "flops": "#d8873b", "memory": "#4aa068"}


def save_plot(profile: Profile, path: str) -> None:
    """Bar charts of where the parameters, FLOPs and memory go, saved to ``path`` (.png or .svg)."""
    ext = path.lower().rsplit(".", 1)[-1] if "." in path else ""
    if ext not in ("png", "svg"):
        raise SpecError(f"--plot writes .png or .svg files, not {path!r}",
                        fix="name the file FILE.png or FILE.svg")
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise SpecError("--plot needs matplotlib, which is not installed",
                        fix='pip install "netcensus[plot]" (or pip install matplotlib)') from exc
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
    fig.suptitle(f"{profile.model}  |  input {profile.inputs}", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, format=ext, metadata={"Date": None} if ext == "svg" else None)
    plt.close(fig)
