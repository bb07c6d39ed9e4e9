"""`forcefields data ...`: look at a dataset before training on it, fetch it, or make one.

    forcefields data info rmd17:aspirin --root ../shared/data/rmd17
    forcefields data info my_molecules.xyz --energy-key REF_energy --forces-key REF_forces
    forcefields data download rmd17:aspirin
    forcefields data generate --smiles qm9_smiles.csv --method GFN2-xTB --molecules 50000 \
        --geometries-per-molecule 6 --workers 2 --out corpus/qm9-xtb
    forcefields data generate --from-file my_structures.extxyz --method GFN2-xTB --out mine/
    forcefields data info corpus/qm9-xtb
"""

from __future__ import annotations

import argparse

__all__ = ["register", "summarize"]


def register(subparsers) -> None:
    parser = subparsers.add_parser("data", help="inspect or download datasets", description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="data_command", metavar="ACTION")

    info = sub.add_parser("info", help="frames, elements, E0, force RMS, neighbours, provenance")
    info.add_argument("sources", nargs="+", metavar="SOURCE", help="'rmd17:<molecule>', 'md17:<molecule>' or a file")
    _add_reader_options(info)
    info.add_argument("--cutoff", type=float, default=5.0, help="neighbour cutoff in Å (default 5.0)")
    info.add_argument("--max-frames", type=int, default=2000,
                      help="frames sampled for the neighbour count (default 2000; 0: all)")
    info.set_defaults(func=_info)

    dl = sub.add_parser("download", help="fetch a dataset into the cache (or --root)")
    dl.add_argument("sources", nargs="+", metavar="SOURCE", help="'rmd17:<molecule>' or 'md17:<molecule>'")
    dl.add_argument("--root", default=None, help="folder to download into (default: $FORCEFIELDS_CACHE/datasets)")
    dl.set_defaults(func=_download)
    pull = sub.add_parser("pull", help="download a corpus published as a Hub dataset")
    pull.add_argument("repo", help="Hub dataset repo id, org/name")
    pull.add_argument("--out", required=True, help="folder to download into")
    pull.add_argument("--revision", default=None)
    pull.set_defaults(func=_pull)

    from .data_generate import register_generate

    register_generate(sub)
    parser.set_defaults(func=lambda args: parser.print_help() or 2)


def _add_reader_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--root", default=None, help="folder holding the dataset files (default: the download cache)")
    p.add_argument("--energy-key", default=None, help="where energies are stored (e.g. REF_energy)")
    p.add_argument("--forces-key", default=None, help="where forces are stored (e.g. REF_forces)")
    p.add_argument("--units", default=None, help="energy unit of the file: eV, meV, kcal/mol, kJ/mol, hartree, Ry")
    p.add_argument("--length-unit", default=None, help="unit of positions: Å (default), bohr, nm")
    p.add_argument("--forces-unit", default=None, help="unit of forces, e.g. hartree/bohr (default: units/length)")


def _spec(text: str, args) -> dict:
    spec = {"source": text}
    for key in ("energy_key", "forces_key", "units", "length_unit", "forces_unit"):
        value = getattr(args, key, None)
        if value is not None:
            spec[key] = value
    return spec


def summarize(source, root=None, cutoff: float = 5.0, max_frames: int = 2000, seed: int = 0) -> dict:
    """Everything ``data info`` shows about one source, as a dict.

    The neighbour count is measured on at most ``max_frames`` frames drawn by
    ``seed`` (0: all); everything else uses every frame that passes the checks.
    """
    import numpy as np

    from ..data.dataset import build_graphs
    from ..data.sources import load_source, parse_source
    from ..data.statistics import statistics_from_arrays
    from ..data.validation import find_bad_frames

    src = parse_source(source, root)
    frames = load_source(src)
    bad = find_bad_frames(frames)
    good = np.ones(frames.num_frames, dtype=bool)
    good[list(bad)] = False
    usable = np.flatnonzero(good)
    if usable.size == 0:
        first = next(iter(bad))
        raise ValueError(
            f"{src.label}: none of its {frames.num_frames} frames can be used "
            f"(first: {frames.where(first)}: {bad[first]}); check the file."
        )
    sample = usable
    if max_frames and usable.size > max_frames:
        sample = np.sort(np.random.default_rng(seed).choice(usable, max_frames, replace=False))
    store = build_graphs(frames, sample, cutoff)
    neighbors = store.num_edges.numpy() / np.maximum(store.natoms.numpy(), 1)
    good_frames = frames.subset(usable)
    stats = statistics_from_arrays(
        good_frames.numbers, good_frames.natoms, good_frames.energy, good_frames.forces,
        cutoff=cutoff, sources=[src.label],
        avg_num_neighbors=float(store.num_edges.sum()) / max(int(store.natoms.sum()), 1),
    )
    counts = {}
    for z in stats.elements:
        per_frame = np.add.reduceat((good_frames.numbers == z).astype(np.int64), good_frames.ptr[:-1]) if good_frames.num_frames else []
        counts[z] = (int(np.min(per_frame)), int(np.max(per_frame)))
    return {
        "label": src.label,
        "layout": frames.layout,
        "paths": frames.paths,
        "units": frames.units,
        "frames": frames.num_frames,
        "bad_frames": len(bad),
        "first_bad": (frames.where(next(iter(bad))) + ": " + next(iter(bad.values()))) if bad else None,
        "groups": {k: int(len(v)) for k, v in frames.groups.items()},
        "natoms": (int(frames.natoms.min()), int(frames.natoms.max())),
        "element_counts": counts,
        "energy": (float(good_frames.energy.mean()), float(good_frames.energy.std())),
        "statistics": stats,
        "neighbors": (float(neighbors.mean()), float(neighbors.min()), float(neighbors.max())),
        "neighbor_frames": int(len(sample)),
        "cutoff": cutoff,
    }


def _units_line(units: dict) -> str:
    from ..data.units import energy_factor, forces_factor, length_factor

    parts = []
    for what, target, fn in (("energy", "eV", energy_factor), ("forces", "eV/Å", forces_factor), ("positions", "Å", length_factor)):
        unit = units.get("length" if what == "positions" else what)
        if unit is None:
            continue
        factor = fn(unit)
        parts.append(f"{what} {unit} (as is)" if factor == 1.0 else f"{what} {unit} → {target} (×{factor:.7g})")
    return "; ".join(parts)


def _groups_line(groups: dict) -> str:
    """'train_01–train_05: 1000 each; test_01–test_05: 1000 each' or a plain list."""
    out = []
    for prefix in sorted({k.rsplit("_", 1)[0] for k in groups}, key=lambda p: (p != "train", p)):
        names = sorted(k for k in groups if k.rsplit("_", 1)[0] == prefix)
        sizes = {groups[k] for k in names}
        if len(names) > 1 and len(sizes) == 1:
            out.append(f"{names[0]}–{names[-1]}: {sizes.pop()} each")
        else:
            out.append(", ".join(f"{k}: {groups[k]}" for k in names))
    return "; ".join(out)


def _files_line(paths: list[str]) -> str:
    """Absolute paths; files of one folder share a line with the folder."""
    from pathlib import Path

    folders: dict[str, list[str]] = {}
    for p in paths:
        p = Path(p).resolve()
        folders.setdefault(str(p.parent), []).append(p.name)
    return "\n".join(
        f"{folder}/{names[0]}" if len(names) == 1 else f"{folder}/: " + ", ".join(names)
        for folder, names in folders.items()
    )


def _print_summary(info: dict, console) -> None:
    from ase.data import chemical_symbols
    from rich.table import Table

    stats = info["statistics"]
    table = Table(title=f"[bold]{info['label']}[/bold]", show_header=False, title_justify="left")
    table.add_column("what", style="bold cyan", no_wrap=True)
    table.add_column("value", overflow="fold")
    frames = f"{info['frames']:,}"
    if info["groups"]:
        frames += f" unique  (standard splits {_groups_line(info['groups'])})"
    table.add_row("frames", frames)
    if info["bad_frames"]:
        table.add_row("bad frames", f"[red]{info['bad_frames']}[/red] (first: {info['first_bad']}); left out below")
    lo, hi = info["natoms"]
    table.add_row("atoms per frame", str(lo) if lo == hi else f"{lo}–{hi}")
    elements = []
    for z, (cmin, cmax) in info["element_counts"].items():
        count = str(cmin) if cmin == cmax else f"{cmin}–{cmax}"
        elements.append(f"{chemical_symbols[z]}×{count}")
    table.add_row("elements", ", ".join(elements))
    table.add_row(
        "E0 (eV)",
        ", ".join(f"{chemical_symbols[z]} {stats.atomic_energies[z]:.4f}" for z in stats.elements)
        + "  [dim](least squares on element counts; minimum norm when they are collinear)[/dim]",
    )
    table.add_row("energy", f"mean {info['energy'][0]:.4f} eV, std {info['energy'][1] * 1000:.2f} meV")
    table.add_row("energy residual std", f"{stats.energy_residual_std * 1000:.2f} meV/atom")
    table.add_row("force RMS", f"{stats.force_rms:.4f} eV/Å")
    mean, nmin, nmax = info["neighbors"]
    table.add_row(
        f"neighbours per atom (< {info['cutoff']:g} Å)",
        f"{mean:.2f} (frames: min {nmin:.2f}, max {nmax:.2f}; from {info['neighbor_frames']:,} frames)",
    )
    table.add_row("layout", info["layout"])
    table.add_row("files", _files_line(info["paths"]))
    table.add_row("units converted", _units_line(info["units"]))
    console.print(table)


def _info(args) -> int:
    from ..console import make_console

    console = make_console()
    for text in args.sources:
        if _is_corpus_spec(text, args.root):
            from .data_generate import print_corpus_info

            print_corpus_info(text, args.root, console)
            continue
        info = summarize(_spec(text, args), root=args.root, cutoff=args.cutoff, max_frames=args.max_frames)
        _print_summary(info, console)
    return 0


def _pull(args) -> int:
    from ..data.corpus_hub import pull_corpus

    path = pull_corpus(args.repo, args.out, revision=args.revision)
    print(f"pulled the corpus {args.repo} into {path}; train on it with --data xtb:{path}")
    return 0


def _is_corpus_spec(text: str, root) -> bool:
    from pathlib import Path

    from ..data.corpus import is_corpus

    path = text.split(":", 1)[1] if text.lower().startswith(("xtb:", "corpus:")) else text
    return is_corpus(path) or (root is not None and is_corpus(Path(root) / path))


def _download(args) -> int:
    from ..console import make_console

    from ..data.sources import parse_source, prepare_source
    from ..data import md17, rmd17

    console = make_console()
    for text in args.sources:
        src = parse_source(text, args.root)
        if src.kind == "file":
            raise ValueError(f"{text} is a file, nothing to download; name a dataset such as 'rmd17:aspirin'.")
        prepare_source(src, download=True, into_root=True)
        where = rmd17.find_rmd17(src.name, src.root) if src.kind == "rmd17" else md17.find_md17(src.name, src.root)
        console.print(f"[bold]{src.label}[/bold]: ready at {where if not isinstance(where, dict) else where.get('npz') or list(where['files'].values())[0].parent}")
    return 0
