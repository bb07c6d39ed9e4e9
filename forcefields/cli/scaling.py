"""``forcefields scaling``: measure scaling laws on your data and ask which model to train.

    forcefields scaling run --families mpnn,egnn,esen-l2,esen-l4 --widths xs,s,m,l --data xtb:corpus/qm9-xtb \\
        --max-structures 200000 --out runs/scaling
    forcefields scaling status runs/scaling
    forcefields scaling fit runs/scaling
    forcefields scaling plot runs/scaling
    forcefields scaling advise runs/scaling --budget-flops 1e17 --family egnn
    forcefields scaling export runs/scaling --slurm jobs.sh
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

__all__ = ["register"]


def _yaml(text: str) -> Any:
    import yaml

    return yaml.safe_load(text)


def _optional_float(text: str) -> float | None:
    return None if text.lower() in ("none", "null", "off") else float(text)


def _split(text: str) -> Any:
    return _yaml(text) if text.strip().startswith("{") else text


def _model_arg(text: str) -> tuple[str, Any]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"--model-arg takes KEY=VALUE (e.g. num_layers=2); got {text!r}.")
    return key.strip(), _yaml(value)


def _count(text: str) -> int:
    value = float(text)  # accepts 2e5
    if value != int(value):
        raise argparse.ArgumentTypeError(f"{text} is not a whole number.")
    return int(value)


# (flag, argparse options); dest is the ScalingSettings field.
_SETTINGS: list[tuple[str, dict[str, Any]]] = [
    ("--data", dict(nargs="+", help="data sources as for `forcefields train` (rmd17:aspirin, xtb:corpus/qm9-xtb, files)")),
    ("--root", dict(help="folder holding the datasets")),
    ("--split", dict(type=_split, help="the data module's split, e.g. '{train: 0.9, val: 0.05, test: 0.05}'")),
    ("--max-structures", dict(type=_count, help="structures of the single pass (default 200000)")),
    ("--batch-size", dict(type=int, help="fixed batch for every run (default 32)")),
    ("--val-structures", dict(type=_count, help="validation structures per evaluation (default 1000)")),
    ("--evals-per-decade", dict(type=int, help="evaluations per decade of structures seen (default 5)")),
    ("--first-eval", dict(type=_count, help="structures seen at the first evaluation (default 4 batches)")),
    ("--optimizer", dict(choices=["schedulefree", "adamw"])),
    ("--lr-scale", dict(type=float, help="multiplies every variant's transferred learning rate (default 1)")),
    ("--warmup-steps", dict(type=int)),
    ("--weight-decay", dict(type=float)),
    ("--gradient-clip", dict(type=_optional_float)),
    ("--loss", dict(choices=["l1norm", "mse", "huber"])),
    ("--energy-weight", dict(type=float)),
    ("--forces-weight", dict(type=float)),
    ("--force-mode", dict(choices=["direct", "conservative"])),
    ("--ema-decay", dict(type=_optional_float, help="EMA of the evaluation weights, or 'none' (default none)")),
    ("--dtype", dict(choices=["float32", "float64"])),
    ("--seed", dict(type=int)),
    ("--model-arg", dict(dest="model_args", type=_model_arg, action="append", metavar="KEY=VALUE",
                         help="override a model hyper-parameter in every run (repeatable)")),
    ("--flop-batches", dict(type=int, help="training batches the FLOP counter measures (default 4)")),
    ("--devices", dict(type=int, help="devices per run (DDP when > 1)")),
    ("--strategy", dict()),
    ("--accelerator", dict(help="cpu, gpu, auto")),
    ("--num-workers", dict(type=int)),
    ("--no-progress-bar", dict(dest="progress_bar", action="store_false")),
]


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "scaling",
        help="scaling laws: run a grid, fit exponents, plot, advise a width and data size",
        description="Measure power laws in parameters, data and compute on your data (Ngo & Ravanbakhsh protocol).",
        epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.set_defaults(func=lambda args: (parser.print_help(), 2)[1])
    sub = parser.add_subparsers(dest="scaling_command", metavar="ACTION")

    run = sub.add_parser("run", help="train the grid (resumes unfinished runs, skips complete ones)")
    run.add_argument("--families", help="comma-separated variant prefixes: mpnn,egnn,esen-l2,esen-l4 ...")
    run.add_argument("--widths", help="comma-separated sizes: xs,s,m,l,xl")
    run.add_argument("--out", default="runs/scaling", help="grid folder (default runs/scaling)")
    run.add_argument("--only", help="comma-separated run names to train (default all)")
    for flag, options in _SETTINGS:
        run.add_argument(flag, default=argparse.SUPPRESS, **options)
    run.set_defaults(func=_run)

    status = sub.add_parser("status", help="done, running, failed, left, and the compute spent")
    status.add_argument("out")
    status.add_argument("--json", action="store_true", help="print JSON instead of a table")
    status.set_defaults(func=_status)

    fit = sub.add_parser("fit", help="exponents with confidence intervals (table, and <out>/fit.json)")
    _fit_options(fit)
    fit.add_argument("--json", action="store_true", help="print the JSON instead of the table")
    fit.set_defaults(func=_fit)

    plot = sub.add_parser("plot", help="PNGs: loss vs N per D, loss vs D per N, compute frontier")
    _fit_options(plot)
    plot.add_argument("--to", help="folder for the PNGs (default <out>/plots)")
    plot.set_defaults(func=_plot)

    advise = sub.add_parser("advise", help="width and number of structures for a FLOP budget")
    _fit_options(advise, families=False)
    advise.add_argument("--budget-flops", type=float, required=True, help="training compute in FLOPs, e.g. 1e17")
    advise.add_argument("--family", required=True, help="a fitted family, e.g. egnn")
    advise.add_argument("--json", action="store_true")
    advise.set_defaults(func=_advise)

    export = sub.add_parser("export", help="the grid as a SLURM job array (one command per run)")
    export.add_argument("out")
    export.add_argument("--slurm", required=True, metavar="FILE", help="script to write, e.g. jobs.sh")
    export.add_argument("--sbatch", action="append", default=[], metavar="OPTION",
                        help="an #SBATCH option such as gres=gpu:1 or time=04:00:00 (repeatable)")
    export.add_argument("--executable", default="forcefields", help="how the cluster calls forcefields")
    export.set_defaults(func=_export)
    return parser


def _fit_options(parser: argparse.ArgumentParser, families: bool = True) -> None:
    parser.add_argument("out")
    parser.add_argument("--metric", default="val_loss", help="val_loss (default), val_forces_mae or val_energy_mae")
    if families:
        parser.add_argument("--families", help="comma-separated families to fit (default all)")
    parser.add_argument("--bootstrap", type=int, default=200, help="bootstrap resamples (default 200)")
    parser.add_argument("--level", type=float, default=0.95, help="interval coverage (default 0.95)")
    parser.add_argument("--min-structures", type=int, default=None,
                        help="leave out evaluations at fewer structures seen (default: the end of the warm-up)")


def _settings(args: argparse.Namespace):
    from ..scaling import ScalingSettings
    from ..scaling.results import read_json

    grid = read_json(Path(args.out) / "grid.json")
    base: dict[str, Any] = {}
    if grid is not None:
        base = {**grid.get("settings", {}), **grid.get("execution", {})}
    dests = [options.get("dest", flag[2:].replace("-", "_")) for flag, options in _SETTINGS]
    changes = {k: getattr(args, k) for k in dests if hasattr(args, k)}
    if "model_args" in changes:
        changes["model_args"] = {**base.get("model_args", {}), **dict(changes["model_args"])}
    return ScalingSettings.from_dict({**base, **changes}), grid


def _run(args: argparse.Namespace) -> int:
    from ..scaling import RunSpec, plan_grid, run_grid
    from ..scaling.grid import split_names

    settings, grid = _settings(args)
    families, widths = split_names(args.families), split_names(args.widths)
    if families or widths or grid is None:
        if grid is not None and not families:
            families = sorted({r["family"] for r in grid["runs"]})
        if grid is not None and not widths:
            widths = sorted({r["size"] for r in grid["runs"]}, key=("xs", "s", "m", "l", "xl").index)
        runs = plan_grid(families, widths)
    else:
        runs = [RunSpec(r["family"], r["size"]) for r in grid["runs"]]
    states = run_grid(args.out, settings, runs, only=split_names(args.only) or None)
    print(", ".join(f"{name}: {state}" for name, state in states.items()))
    return 0


def _status(args: argparse.Namespace) -> int:
    from ..scaling.status import format_status, grid_status

    rows, totals = grid_status(args.out)
    if args.json:
        print(json.dumps({"runs": rows, "totals": totals}, indent=2))
    else:
        print(format_status(rows, totals))
    return 0


def _do_fit(args: argparse.Namespace):
    from ..scaling import fit_grid
    from ..scaling.grid import split_names

    families = split_names(getattr(args, "families", None)) or None
    return fit_grid(args.out, metric=args.metric, families=families, bootstrap=args.bootstrap, level=args.level,
                    min_structures=args.min_structures)


def _fit(args: argparse.Namespace) -> int:
    from ..scaling import format_table
    from ..scaling.results import write_json

    result = _do_fit(args)
    data = result.to_dict()
    path = Path(args.out) / "fit.json"
    write_json(path, data)
    if args.json:
        print(json.dumps(data, indent=2, ensure_ascii=False))
    else:
        print(format_table(result))
        print(f"\nwritten: {path}")
    return 0


def _plot(args: argparse.Namespace) -> int:
    from ..scaling import ScalingError
    from ..scaling.plots import make_plots

    try:
        result = _do_fit(args)
    except ScalingError as err:
        print(f"no fitted lines: {err}")
        result = None
    for path in make_plots(args.out, result, metric=args.metric, folder=args.to):
        print(f"written: {path}")
    return 0


def _advise(args: argparse.Namespace) -> int:
    from ..scaling import advise, format_advice
    from ..scaling.grid import split_names

    args.families = ",".join(split_names(args.family))
    from ..scaling.results import load_runs

    result = _do_fit(args)
    runs = [r for r in load_runs(args.out) if r.family == args.family and r.settings]
    info = runs[0].settings.get("run", {}) if runs else {}
    advice = advise(result, args.family, args.budget_flops, elements=info.get("elements"),
                    available_structures=info.get("train_structures_available"))
    if args.json:
        print(json.dumps(advice.to_dict(), indent=2, ensure_ascii=False))
    else:
        print(format_advice(advice, result.level))
    return 0


def _export(args: argparse.Namespace) -> int:
    from ..scaling.export import write_slurm

    path = write_slurm(args.out, args.slurm, sbatch=args.sbatch, executable=args.executable)
    print(f"written: {path} (submit with: sbatch {path})")
    return 0
