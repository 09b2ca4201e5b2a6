"""The trade-off figure: closed-set vs zero-shot top-1 across the interpolation ratios, per experiment and set."""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

from ..io import atomic_path
from .curves import mean_curve, reported_split
from .markdown import split_words


def plot(groups: Mapping[str, list], spec: Mapping, path: Path) -> None:
    """One row per experiment, one panel per zero-shot set: closed-set (x) vs zero-shot (y) across ratios."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(groups)
    columns = list(spec["zeroshot"])
    fig, axes = plt.subplots(len(names), len(columns), figsize=(5.2 * len(columns), 4.4 * len(names)), squeeze=False)
    for i, name in enumerate(names):
        rows = groups[name]
        for j, zs in enumerate(columns):
            ax = axes[i][j]
            for variant in spec["variants"]:
                points = mean_curve(rows, variant, spec["train_set"], zs)
                if not points:
                    continue
                xs, ys = [p[1] for p in points], [p[2] for p in points]
                if len(points) == 1:
                    ax.scatter(xs, ys, marker="*", s=160, zorder=5, color="black", label=variant)
                else:
                    (line,) = ax.plot(xs, ys, marker="o", ms=3, label=variant)
                    for r, x, y in points:
                        if r in (0.0, 0.5, 1.0):
                            ax.annotate(
                                f"r={r:g}",
                                (x, y),
                                fontsize=7,
                                color=line.get_color(),
                                xytext=(3, 3),
                                textcoords="offset points",
                            )
            ax.set_xlabel(
                f"closed-set top-1 on {spec['train_set']} ({split_words(reported_split(rows, spec['train_set']))}, %)"
            )
            ax.set_ylabel(f"zero-shot top-1 on {zs} ({split_words(reported_split(rows, zs))}, %)")
            ax.set_title(f"{name}: {spec['train_set']} vs {zs}" if name else f"{spec['train_set']} vs {zs}")
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7)
    fig.suptitle("Trade-off across the interpolation ratio r (r*theta0 + (1-r)*theta)")
    fig.tight_layout()
    with atomic_path(path, keep_suffix=True) as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)
