"""Plot of a benchmark result: identification probability against labels."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only; never open a window
import matplotlib.pyplot as plt  # noqa: E402


def plot_identification(result: dict[str, Any], path: str | Path) -> None:
    """Write a PNG with one line per strategy of :func:`~modelpicker_core.harness.run_benchmark`'s result.

    The x axis is the mean number of labels used at each budget (which, in the
    stream setting, can fall short of the budget once a strategy cannot spend
    more); the dotted line marks identification 0.9.
    """
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, res in result["strategies"].items():
        ax.plot(res["labels"], res["identification"], marker="o", markersize=3, label=name)
    ax.axhline(0.9, color="grey", linestyle=":", linewidth=1)
    ax.set_xlabel("labels used (mean over realisations)")
    ax.set_ylabel("identification probability")
    ax.set_ylim(0, 1.02)
    size_key = f"{result['setting']}_size"
    size = f", {result['setting']} size {result[size_key]}" if size_key in result else ""
    ax.set_title(f"{Path(str(result['data'])).name}: {result['setting']} setting{size}, "
                 f"{result['realizations']} realisations, seed {result['seed']}", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
