"""Benchmark plots (matplotlib, Agg backend): throughput, memory, accuracy against speed."""

from __future__ import annotations

from pathlib import Path

from .collect import DeviceResults, ok

__all__ = ["plot_throughput", "plot_memory", "plot_training", "plot_pareto", "md_latency_by_model"]

_PEER_STYLE = dict(linestyle="--", color="0.35")
_PEER_COLORS = ("0.15", "tab:brown", "0.55", "tab:olive")


def _peer_color(model: str, records: list[dict]) -> str:
    peers = sorted({r["model"] for r in records if r["source"] == "peer"})
    return _PEER_COLORS[peers.index(model) % len(_PEER_COLORS)] if model in peers else _PEER_STYLE["color"]


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _series(records: list[dict], regime: str, y: str) -> dict[tuple[str, bool, str], tuple[list, list]]:
    """(model, compile, source) -> (atoms, y), sorted by atoms."""
    out: dict[tuple[str, bool, str], list[tuple[int, float]]] = {}
    for r in ok(records, regime=regime):
        if r.get(y) is None:
            continue
        out.setdefault((r["model"], r["compile"], r["source"]), []).append((r["n_atoms"], r[y]))
    return {k: tuple(map(list, zip(*sorted(v)))) for k, v in out.items()}


def _label(model: str, compiled: bool) -> str:
    return model + (" (compiled)" if compiled else "")


def plot_throughput(dev: DeviceResults, path: Path) -> Path | None:
    """Atoms/s against atoms per call, log-log, one panel per family.

    Solid lines: the large regime (one droplet); dotted: the batch regime
    (many molecules). Peers are drawn dashed in grey in every panel.
    """
    recs = [r for r in dev.speed if r["regime"] in ("batch", "large")]
    if not ok(recs):
        return None
    plt = _plt()
    families = sorted({r["family"] for r in ok(recs) if r["source"] != "peer"}) or ["peer"]
    ours = sorted({(r["model"], r["compile"]) for r in ok(recs) if r["source"] != "peer"})
    cmap = plt.get_cmap("tab10")
    colour = {key: cmap(i % 10) for i, key in enumerate(ours)}
    fig, axes = plt.subplots(1, len(families), figsize=(4.4 * len(families), 4.4), squeeze=False, sharey=True)
    peer_handles: dict[str, object] = {}
    for ax, fam in zip(axes[0], families):
        own = []
        for regime, style in (("large", "-"), ("batch", ":")):
            for (model, compiled, source), (x, y) in sorted(_series(recs, regime, "atoms_per_s").items()):
                famrec = next(r for r in recs if r["model"] == model)["family"]
                label = f"{_label(model, compiled)} [{regime}]"
                if source == "peer":
                    (h,) = ax.plot(x, y, "--" if regime == "large" else ":", marker=".", color=_peer_color(model, recs),
                                   label=label)
                    peer_handles.setdefault(label, h)
                elif famrec == fam:
                    (h,) = ax.plot(x, y, style, marker="o" if regime == "large" else "s", ms=3,
                                   color=colour[(model, compiled)], label=label)
                    own.append(h)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(fam)
        ax.set_xlabel("atoms per call")
        ax.grid(True, which="both", alpha=0.3)
        if own:
            ax.legend(handles=own, fontsize=6, loc="best")
    axes[0][0].set_ylabel("throughput (atoms/s)")
    fig.suptitle(f"Energy+forces throughput, {dev.label} (solid/dashed: one water droplet; dotted: batch of aspirins)",
                 fontsize=9)
    if peer_handles:
        fig.legend(list(peer_handles.values()), list(peer_handles), loc="lower center", fontsize=6,
                   ncol=min(4, len(peer_handles)), title="peers (same structures, same run)", title_fontsize=7)
        fig.tight_layout(rect=(0, 0.06 + 0.035 * ((len(peer_handles) + 3) // 4), 1, 1))
    else:
        fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_memory(dev: DeviceResults, path: Path) -> Path | None:
    """Peak memory of one energy+forces call against atoms (large regime), log-log."""
    series = _series(dev.speed, "large", "peak_mem_mb")
    series = {k: (x, y) for k, (x, y) in series.items() if any(v > 0 for v in y)}
    if not series:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.5, 4))
    methods = sorted({r["mem_method"] for r in ok(dev.speed, regime="large") if r.get("mem_method")})
    for (model, compiled, source), (x, y) in sorted(series.items()):
        pts = [(a, b) for a, b in zip(x, y) if b > 0]
        xs, ys = zip(*pts)
        kw = {"linestyle": "--", "color": _peer_color(model, dev.speed)} if source == "peer" else {}
        ax.plot(xs, ys, marker="o", ms=3, label=_label(model, compiled), **kw)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("atoms (water droplet)")
    ax.set_ylabel("peak memory above baseline (MiB)")
    ax.set_title(f"Memory, {dev.label} ({', '.join(methods)})", fontsize=9)
    return _save(fig, ax, path)


def plot_training(dev: DeviceResults, path: Path) -> Path | None:
    """Cost of a training step per structure against molecules per step (train regime), log x.

    A line per model, coloured by family: a model whose cost per structure
    falls with the batch uses a larger batch well.
    """
    steps: dict[tuple[str, str], list[tuple[int, float]]] = {}
    for r in ok(dev.speed, regime="train"):
        if r["source"] != "peer" and r.get("median_s"):
            steps.setdefault((r["family"], r["model"]), []).append((r["n_molecules"], 1e3 * r["median_s"] / r["n_molecules"]))
    if not steps:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.8, 4))
    families = sorted({family for family, _ in steps})
    cmap = plt.get_cmap("tab10")
    markers = "osD^v<>"
    for family, model in sorted(steps):
        xs, ys = zip(*sorted(steps[(family, model)]))
        same_family = [m for f, m in sorted(steps) if f == family]
        ax.plot(xs, ys, marker=markers[same_family.index(model) % len(markers)], ms=4,
                color=cmap(families.index(family) % 10), label=model)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    sizes = sorted({n for points in steps.values() for n, _ in points})
    ax.set_xticks(sizes, [str(n) for n in sizes])
    ax.xaxis.set_minor_locator(plt.NullLocator())
    ax.set_xlabel("molecules per training step (aspirin)")
    ax.set_ylabel("ms per structure (forces, loss, backward, AdamW)")
    ax.set_title(f"Training cost, {dev.label}", fontsize=9)
    return _save(fig, ax, path, legend_outside=True)  # the lines fill the panel


def _save(fig, ax, path: Path, legend_outside: bool = False) -> Path:
    """Grid, legend (inside, or right of the axes), tight layout, write the PNG and free the figure."""
    ax.grid(True, which="both", alpha=0.3)
    if legend_outside:
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0))
    else:
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    _plt().close(fig)
    return path


def md_latency_by_model(dev: DeviceResults) -> dict[str, tuple[float, str]]:
    """model -> (median md latency in s, molecule), preferring aspirin, compile off."""
    out: dict[str, tuple[float, str]] = {}
    for r in ok(dev.speed, regime="md", compile=False):
        cur = out.get(r["model"])
        if cur is None or (r["system"] == "aspirin" and cur[1] != "aspirin"):
            out[r["model"]] = (r["median_s"], r["system"])
    return out


def _pareto(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Points not beaten on both axes (lower is better on both), sorted by x."""
    front, best = [], float("inf")
    for x, y in sorted(points):
        if y < best:
            front.append((x, y))
            best = y
    return front


def plot_pareto(dev: DeviceResults, path: Path) -> Path | None:
    """Force MAE against md latency for every checkpoint with both; Pareto front drawn."""
    latency = md_latency_by_model(dev)
    pts = []
    for a in ok(dev.accuracy):
        t = latency.get(a["model"]) or latency.get(a["arch"])
        if t is not None:
            pts.append((1e3 * t[0], a["force_mae_mev_a"], a["model"], a["family"]))
    if not pts:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.5, 4))
    families = sorted({p[3] for p in pts})
    cmap = plt.get_cmap("tab10")
    for i, fam in enumerate(families):
        sel = [p for p in pts if p[3] == fam]
        ax.scatter([p[0] for p in sel], [p[1] for p in sel], color=cmap(i), label=fam, zorder=3)
    for x, y, name, _ in pts:
        ax.annotate(name, (x, y), fontsize=6, xytext=(3, 3), textcoords="offset points")
    front = _pareto([(p[0], p[1]) for p in pts])
    ax.step([p[0] for p in front], [p[1] for p in front], where="post", color="k", lw=1, alpha=0.6, label="Pareto front")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("MD step latency (ms, energy+forces, compile off)")
    ax.set_ylabel("force MAE (meV/Å, test split)")
    ax.set_title(f"Accuracy against speed, {dev.label}", fontsize=9)
    return _save(fig, ax, path)


def plot_survival(dev: DeviceResults, path: Path) -> Path | None:
    """Mean survival time (ps) against temperature (K), one panel per family.

    One line per model and target length (runs of 10 ps and of 100 ps are not averaged
    together); with several targets in a panel the time axis is logarithmic.
    """
    recs = [r for r in dev.stability if r["status"] in ("survived", "failed")]
    if not recs:
        return None
    plt = _plt()
    families = sorted({r["family"] for r in recs})
    fig, axes = plt.subplots(1, len(families), figsize=(4.5 * len(families), 3.6), squeeze=False)
    for ax, fam in zip(axes[0], families):
        mine = [r for r in recs if r["family"] == fam]
        targets = sorted({r["target_ps"] for r in mine})
        for model, target in sorted({(r["model"], r["target_ps"]) for r in mine}):
            runs = [r for r in mine if r["model"] == model and r["target_ps"] == target]
            temps = sorted({r["temperature_k"] for r in runs})
            mean = [sum(r["survived_ps"] for r in runs if r["temperature_k"] == t)
                    / sum(1 for r in runs if r["temperature_k"] == t) for t in temps]
            label = model if len(targets) == 1 else f"{model}, {target:g} ps runs"
            ax.plot(temps, mean, marker="o", label=label, ls="-" if target == max(targets) else ":")
        for target in targets:
            ax.axhline(target, color="grey", lw=0.8, ls="--")
        ax.set(title=fam, xlabel="temperature (K)", ylabel="mean survival time (ps)")
        if len(targets) > 1:
            ax.set_yscale("log")
            ax.set_ylim(min(0.05, min(r["survived_ps"] for r in mine) * 0.8), 1.3 * max(targets))
        else:
            ax.set_ylim(0, 1.05 * targets[0])
        ax.legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
