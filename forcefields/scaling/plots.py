"""Plots of a grid: loss against N per D, loss against D per N, the compute frontier.

    make_plots("runs/scaling")   # writes runs/scaling/plots/{loss_vs_N,loss_vs_D,compute_frontier}.png

One panel per family in the first two figures (log–log axes, the fitted
L(N, D) as lines when a fit is given); the frontier figure puts every
family's points (C, loss) on one pair of axes, its frontier highlighted and
its fitted L(C) drawn, so families compare at equal compute. Evaluations
left out of the fit (before ``min_structures``) are drawn hollow, and left
off the frontier figure.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .fit import GridFit, compute_frontier
from .powerlaw import loss_c, loss_nd
from .results import RunRecord, load_runs

__all__ = ["make_plots"]

_LABELS = {"val_loss": "validation loss", "val_forces_mae": "validation force MAE (meV/Å)",
           "val_energy_mae": "validation energy MAE (meV)"}


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _by_family(runs: list[RunRecord]) -> dict[str, list[RunRecord]]:
    out: dict[str, list[RunRecord]] = {}
    for run in runs:
        if run.curve and run.state != "diverged" and run.num_parameters:
            out.setdefault(run.family, []).append(run)
    for family in out:
        out[family].sort(key=lambda r: r.num_parameters)
    return out


def _panels(plt, count: int):
    cols = min(count, 3)
    rows = (count + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(4.6 * cols, 3.8 * rows), squeeze=False)
    for ax in axes.flat[count:]:
        ax.set_visible(False)
    return fig, list(axes.flat[:count])


def _values(run: RunRecord, metric: str) -> tuple[np.ndarray, np.ndarray]:
    rows = [r for r in run.curve if r.get(metric) is not None and np.isfinite(r[metric]) and r[metric] > 0]
    return np.array([r["structures"] for r in rows], float), np.array([r[metric] for r in rows], float)


def make_plots(out: str | Path, result: GridFit | None = None, metric: str | None = None,
               folder: str | Path | None = None) -> list[Path]:
    """Write the three PNGs of a grid.

    Parameters
    ----------
    out : the grid folder
    result : its fit (lines are drawn where given)
    metric : what to plot (default the fit's, else ``val_loss``)
    folder : where to write (default ``<out>/plots``)

    Returns
    -------
    the paths written.
    """
    plt = _pyplot()
    metric = metric or (result.metric if result else "val_loss")
    families = _by_family(load_runs(out))
    if not families:
        from .errors import ScalingError

        raise ScalingError(f"no run in {out} has an evaluation yet; nothing to plot.")
    folder = Path(folder or Path(out) / "plots")
    folder.mkdir(parents=True, exist_ok=True)
    fits: dict[str, Any] = result.families if result else {}
    min_d = result.min_structures if result else 0  # points before it were not fitted: drawn hollow
    label = _LABELS.get(metric, metric)
    written = []

    # loss against D, one line per width
    fig, axes = _panels(plt, len(families))
    for ax, (family, runs) in zip(axes, families.items()):
        colors = plt.cm.viridis(np.linspace(0, 0.9, len(runs)))
        for run, color in zip(runs, colors):
            d, y = _values(run, metric)
            used = d >= min_d
            ax.plot(d[used], y[used], "o", color=color, ms=3, label=f"{run.size}: N={run.num_parameters:,}")
            ax.plot(d[~used], y[~used], "o", color=color, ms=3, mfc="none", alpha=0.6)
            if family in fits and used.any():
                grid = np.geomspace(d[used].min(), d.max(), 50)
                ax.plot(grid, loss_nd(fits[family].nd.params, np.full_like(grid, run.num_parameters), grid), "-", color=color, lw=1)
        ax.set(xscale="log", yscale="log", xlabel="structures seen D", ylabel=label, title=family)
        ax.legend(fontsize=7)
    fig.tight_layout()
    written.append(folder / "loss_vs_D.png")
    fig.savefig(written[-1], dpi=120)
    plt.close(fig)

    # loss against N, one line per D
    fig, axes = _panels(plt, len(families))
    for ax, (family, runs) in zip(axes, families.items()):
        table: dict[int, list[tuple[int, float]]] = {}
        for run in runs:
            for d, y in zip(*_values(run, metric)):
                table.setdefault(int(d), []).append((run.num_parameters, y))
        sizes = sorted(table)
        colors = plt.cm.plasma(np.linspace(0, 0.9, max(1, len(sizes))))
        for d, color in zip(sizes, colors):
            pts = sorted(table[d])
            n, y = np.array([p[0] for p in pts], float), np.array([p[1] for p in pts], float)
            ax.plot(n, y, "o", color=color, ms=3, label=f"D={d:,}", **({} if d >= min_d else {"mfc": "none"}))
            if family in fits and n.size > 1 and d >= min_d:
                grid = np.geomspace(n.min(), n.max(), 50)
                ax.plot(grid, loss_nd(fits[family].nd.params, grid, np.full_like(grid, d)), "-", color=color, lw=1)
        ax.set(xscale="log", yscale="log", xlabel="parameters N", ylabel=label, title=family)
        ax.legend(fontsize=6, ncol=2)
    fig.tight_layout()
    written.append(folder / "loss_vs_N.png")
    fig.savefig(written[-1], dpi=120)
    plt.close(fig)

    # compute frontier, every family on one axis
    fig, ax = plt.subplots(figsize=(6.4, 4.6))
    colors = plt.cm.tab10(np.arange(len(families)) % 10)
    for (family, runs), color in zip(families.items(), colors):
        c, y = [], []
        for run in runs:
            for row in run.curve:
                v = row.get(metric)
                if v is not None and np.isfinite(v) and v > 0 and row.get("flops") and row["structures"] >= min_d:
                    c.append(row["flops"])
                    y.append(v)
        c, y = np.array(c, float), np.array(y, float)
        if not c.size:
            continue
        ax.plot(c, y, ".", color=color, alpha=0.3, ms=3)
        front = compute_frontier(c, y)
        fit = fits.get(family)
        legend = family
        if fit is not None and fit.c is not None:
            grid = np.geomspace(c[front].min(), c[front].max(), 50)
            ax.plot(grid, loss_c(fit.c.params, grid), "-", color=color, lw=1.2)
            legend += f" (γ = {fit.c.params['gamma']:.2f})"
        ax.plot(c[front], y[front], "o", color=color, ms=4, label=legend)
    ax.set(xscale="log", yscale="log", xlabel="training compute C (FLOPs)", ylabel=label, title="compute frontier")
    ax.legend(fontsize=8)
    fig.tight_layout()
    written.append(folder / "compute_frontier.png")
    fig.savefig(written[-1], dpi=120)
    plt.close(fig)
    return written
