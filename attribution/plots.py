"""``attribution.png``: each channel's credit by each model, bars side by side (matplotlib,
Agg backend: files only); the sampled Shapley values carry ± one standard error."""

from pathlib import Path
from typing import Final

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # (after the backend is chosen)
import numpy as np

from attribution.report import TITLES
from attribution.run import MODELS, Attribution

__all__ = ["write_plot"]

_DPI: Final = 110


def write_plot(result: Attribution, path: Path) -> Path:
    """The figure at ``path``; ``path``."""
    channels = result.channels
    x = np.arange(len(channels))
    width = 0.8 / len(MODELS)
    figure, axes = plt.subplots(figsize=(min(4 + 1.1 * len(channels), 24), 4.5))
    errors = result.std_errors
    for i, model in enumerate(MODELS):
        heights = [result.credits[model][c] / 1_000_000 for c in channels]
        bars = None
        if model == "shapley" and errors:
            bars = [errors.get(c, 0.0) / 1_000_000 for c in channels]
        axes.bar(
            x + (i - (len(MODELS) - 1) / 2) * width,
            heights,
            width,
            yerr=bars,
            label=TITLES[model],
            color=f"C{i}",
            capsize=2,
        )
    axes.set_xticks(
        x,
        channels,
        rotation=30 if len(channels) > 6 else 0,
        ha="right" if len(channels) > 6 else "center",
    )
    axes.axhline(0, color="black", linewidth=0.6)
    axes.set_ylabel("credited conversion value")
    axes.grid(axis="y", alpha=0.3)
    axes.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    axes.set_title(f"rtb attribute: {result.source}", fontsize=9)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=_DPI)
    plt.close(figure)
    return path
