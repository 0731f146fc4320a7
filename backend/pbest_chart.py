"""The chart of the ranking page: each candidate's P(best) against the labels, and its certified bound.

matplotlib (Agg, the object API: no pyplot state shared between threads)
draws the round's belief history (:meth:`backend.store.Store.belief_history`,
one row per refresh).  At most :data:`MAX_NAMED` candidates get coloured lines
and a legend entry; with more, the first :data:`TOP_NAMED` of the shown order
do and the rest are grey.  A second panel shows the certified bound (accuracy
points below the best candidate) when the history has one, with epsilon.
"""
from __future__ import annotations

import io
from collections.abc import Sequence

#: up to this many candidates each get a coloured line; more: the first TOP_NAMED, the rest grey
MAX_NAMED, TOP_NAMED = 10, 5
#: the image's size in pixels (one panel; two panels: taller)
WIDTH, HEIGHT, HEIGHT_TWO_PANELS = 900, 450, 750
DPI = 100


def _series(history: list[dict]) -> tuple[list[str], list[int], dict[str, list], dict[str, list]]:
    """``(names, labels, p_best, gap)`` with one point per label count (the latest refresh at that count)."""
    latest: dict[int, dict] = {}
    for row in history:
        latest[int(row["labels"])] = row
    labels = sorted(latest)
    names = list(history[-1]["candidates"]) if history else []
    p_best: dict[str, list] = {n: [] for n in names}
    gap: dict[str, list] = {n: [] for n in names}
    for n in labels:
        row = latest[n]
        index = {name: i for i, name in enumerate(row["candidates"])}
        for name in names:
            i = index.get(name)
            p_best[name].append(None if i is None else row["p_best"][i])
            g = None if i is None or row["gap"] is None else row["gap"][i]
            gap[name].append(None if g is None else 100.0 * g)
    return names, labels, p_best, gap


def _ordered(names: list[str], p_best: dict[str, list], order: Sequence[str] | None) -> list[str]:
    """Names in the shown order (``order`` first, then by the latest P(best))."""
    shown = [n for n in (order or []) if n in p_best]
    rest = sorted((n for n in names if n not in shown), key=lambda n: -(p_best[n][-1] or 0.0) if p_best[n] else 0.0)
    return shown + rest


def split_named(ordered: list[str]) -> tuple[list[str], list[str]]:
    """``(named, grey)``: every candidate named when there are at most :data:`MAX_NAMED`, else the first
    :data:`TOP_NAMED` of ``ordered``."""
    named = ordered if len(ordered) <= MAX_NAMED else ordered[:TOP_NAMED]
    return named, ordered[len(named):]


def chart_png(history: list[dict], order: Sequence[str] | None = None, epsilon: float | None = None,
              title: str = "") -> bytes:
    """The PNG bytes of the chart of ``history`` (oldest first); a chart saying so when it is empty.

    ``order``: candidate names in the order the page shows them (legend order, and which are named when
    there are more than :data:`MAX_NAMED`); ``epsilon``: the certified stop's tolerance (accuracy units),
    drawn on the bound's panel.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    names, labels, p_best, gap = _series(history)
    with_gap = any(v is not None for values in gap.values() for v in values)
    height = HEIGHT_TWO_PANELS if with_gap else HEIGHT
    fig = Figure(figsize=(WIDTH / DPI, height / DPI), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(2 if with_gap else 1, 1, sharex=True, squeeze=False)[:, 0]
    if not labels:
        axes[0].text(0.5, 0.5, "no refresh recorded for this round yet", ha="center", va="center",
                     transform=axes[0].transAxes)
        axes[0].set_axis_off()
    else:
        _draw(axes, names, labels, p_best, gap, order, epsilon)
    if title:
        fig.suptitle(title)
    out = io.BytesIO()
    fig.savefig(out, format="png", dpi=DPI)
    return out.getvalue()


def _draw(axes, names, labels, p_best, gap, order, epsilon) -> None:
    named, grey = split_named(_ordered(names, p_best, order))
    marker = "o" if len(labels) <= 40 else None
    panels = [(axes[0], p_best)] + ([(axes[1], gap)] if len(axes) > 1 else [])
    for ax, values in panels:
        for i, name in enumerate(grey):
            ax.plot(labels, _nan(values[name]), color="0.75", linewidth=0.8, zorder=1,
                    label=f"{len(grey)} other candidates" if i == 0 and ax is axes[0] else None)
        for name in named:
            ax.plot(labels, _nan(values[name]), marker=marker, markersize=3, linewidth=1.6, zorder=2,
                    label=name if ax is axes[0] else None)
        ax.grid(True, alpha=0.3)
    axes[0].set_ylabel("P(best)")
    axes[0].set_ylim(-0.02, 1.02)
    axes[0].legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small", frameon=False)
    if len(axes) > 1:
        axes[1].set_ylabel("at most (points below the best)")
        axes[1].set_ylim(bottom=0)
        if epsilon is not None:
            axes[1].axhline(100.0 * epsilon, color="black", linestyle="--", linewidth=1,
                            label=f"epsilon {100.0 * epsilon:.1f} points: the stop")
            axes[1].legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small", frameon=False)
    axes[-1].set_xlabel("labels used (labelled tasks of the round)")


def _nan(values: list) -> list[float]:
    return [float("nan") if v is None else float(v) for v in values]
