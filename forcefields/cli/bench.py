"""`forcefields bench speed|accuracy|stability|report`: the benchmark harness.

    forcefields bench speed --models egnn-s,esen-l2-s --device cuda --compile
    forcefields bench speed --models mpnn-s --peer mace --peer-python /work/peers/mace/bin/python
    forcefields bench accuracy --models all-pretrained --root ../shared/data/rmd17
    forcefields bench stability --models all-pretrained --temperatures 300,500,1000 --ps 100 --seeds 3 --workers 2
    forcefields bench report --update-readme README.md
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

__all__ = ["register"]


def _ints(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(float(x)) for x in text.split(",") if x.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of integers") from None


def _strs(text: str) -> tuple[str, ...]:
    return tuple(x.strip() for x in text.split(",") if x.strip())


def _override(text: str) -> tuple[str, Any]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"{text!r} is not KEY=VALUE (e.g. hidden=16)")
    key, value = text.split("=", 1)
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError:
        parsed = value
    return key.strip(), parsed


def _speed(args: argparse.Namespace) -> int:
    from ..bench.speed import SpeedSettings, run_speed

    values: dict[str, Any] = {}
    if args.config:
        path = Path(args.config)
        if not path.is_file():
            raise FileNotFoundError(f"benchmark config {path} does not exist; see benchmarks/configs/ for examples.")
        values.update(json.loads(path.read_text(encoding="utf-8")))
        known = set(SpeedSettings.__dataclass_fields__)
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"{path} has unknown settings {unknown}; known: {', '.join(sorted(known))}.")
    cli = {
        "models": args.models, "device": args.device, "dtype": args.dtype, "compile": args.compile or None,
        "regimes": args.regimes, "md_molecules": args.md_molecules, "batch_sizes": args.batch_sizes,
        "train_batch_sizes": args.train_batch_sizes,
        "large_sizes": args.large_sizes, "warmup": args.warmup, "repeats": args.repeats,
        "min_repeats": args.min_repeats, "max_time_per_point_s": args.max_time_per_point,
        "max_call_s": args.max_call_s, "time_budget_s": args.time_budget, "threads": args.threads, "seed": args.seed,
        "peer": args.peer, "peer_python": args.peer_python, "out": args.out, "fallback_cpu": args.fallback_cpu or None,
        "rmd17_root": args.root, "side_by_side": args.side_by_side or None,
        "warm_compile_cache": args.warm_compile_cache or None,
    }
    values.update({k: v for k, v in cli.items() if v is not None})
    if args.override:
        values["overrides"] = dict(values.get("overrides") or {}, **dict(args.override))
    if args.peer_channels or args.peer_max_l or args.peer_interactions is not None:
        channels = args.peer_channels or (64,)
        max_ls = args.peer_max_l or (1,)
        values["peer_models"] = [{"channels": c, "max_L": lmax, "num_interactions": args.peer_interactions or 2, "cutoff": 5.0}
                                 for c in channels for lmax in max_ls]
    values["progress"] = not args.no_progress
    for key in ("regimes", "md_molecules", "batch_sizes", "large_sizes", "train_batch_sizes"):
        if isinstance(values.get(key), list):
            values[key] = tuple(values[key])
    settings = SpeedSettings(**values)
    result = run_speed(settings)
    ok = [r for r in result["records"] if r["status"] == "ok"]
    print(f"{len(ok)} of {len(result['records'])} points measured; results in {result['path']}")
    for r in ok:
        if r["regime"] == "md":
            print(f"  {r['model']:<16} {'compiled ' if r['compile'] else ''}{r['system']:<10} "
                  f"{1e3 * r['median_s']:9.2f} ms (p10 {1e3 * r['p10_s']:.2f}, p90 {1e3 * r['p90_s']:.2f})")
    return 0


def _accuracy(args: argparse.Namespace) -> int:
    from ..bench.accuracy import AccuracySettings, run_accuracy

    s = AccuracySettings(models=args.models, root=args.root, device=args.device, dtype=args.dtype,
                         batch_size=args.batch_size, max_frames=args.max_frames, out=args.out,
                         fallback_cpu=args.fallback_cpu, progress=not args.no_progress)
    result = run_accuracy(s)
    for r in result["records"]:
        if r["status"] == "ok":
            print(f"  {r['model']:<28} {r['dataset']:<16} E MAE {r['energy_mae_mev']:8.2f} meV   "
                  f"F MAE {r['force_mae_mev_a']:8.2f} meV/Å   F RMSE {r['force_rmse_mev_a']:8.2f} meV/Å   ({r['n_frames']} frames)")
        else:
            print(f"  {r['model']:<28} {r['status']}: {r['reason']}")
    print(f"results in {result['path']}")
    return 0


def _stability(args: argparse.Namespace) -> int:
    from ..bench.stability import StabilitySettings, run_stability

    s = StabilitySettings(models=args.models, temperatures=tuple(float(t) for t in args.temperatures.split(",") if t.strip()),
                          ps=args.ps, seeds=args.seeds, timestep_fs=args.timestep, friction=args.friction,
                          nve_ps=args.nve_ps, structures=args.structures, root=args.root, bond_stretch=args.bond_stretch,
                          min_distance=args.min_distance, workers=args.workers, dtype=args.dtype, device=args.device,
                          compile=args.compile,
                          batched=args.batched, out=args.out, checkpoint_every_s=args.checkpoint_every)
    result = run_stability(s)
    for r in result["records"]:
        survived = "–" if r["survived_ps"] is None else f"{r['survived_ps']:.3g} ps"
        print(f"  {r['model']:<28} {r['structure']:<18} {r['temperature_k']:6g} K seed {r['seed']}: {r['status']:<8} "
              f"{survived}" + (f" ({r['reason']})" if r["reason"] else ""))
    print(f"{result['ran']} run(s), {result['skipped']} already done; results in {result['path']}")
    return 0


def _merge(args: argparse.Namespace) -> int:
    from ..bench.store import merge_results

    for f in args.files:
        print(f"merged {f} into {merge_results(f, args.out)}")
    return 0


def _report(args: argparse.Namespace) -> int:
    from ..bench.report import build_report

    out = build_report(args.results, readme=args.update_readme)
    print(f"wrote {out['report']} and {len(out['plots'])} plot(s)" + (f"; updated {out['readme']}" if out["readme"] else ""))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("bench", help="benchmark speed and accuracy, with peers", description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="bench_command", metavar="{speed,accuracy,stability,report}")

    sp = sub.add_parser("speed", help="latency, throughput, memory and training cost (regimes md, batch, large, train)")
    sp.add_argument("--models", default=None, help="comma list of variants or pretrained names, 'all' or 'all-pretrained' (default all)")
    sp.add_argument("--device", default=None, help="cpu (default) or cuda[:N]")
    sp.add_argument("--fallback-cpu", action="store_true", help="use the CPU when CUDA is asked for but absent")
    sp.add_argument("--dtype", default=None, choices=["float32", "float64"])
    sp.add_argument("--compile", action="store_true", help="also time every model under torch.compile")
    sp.add_argument("--regimes", type=_strs, default=None, help="comma list of md,batch,large,train (default md,batch,large)")
    sp.add_argument("--md-molecules", type=_strs, default=None, help="molecules of the md regime (default ethanol,aspirin)")
    sp.add_argument("--batch-sizes", type=_ints, default=None, help="molecules per call (default 1,4,16,64,256)")
    sp.add_argument("--train-batch-sizes", type=_ints, default=None,
                    help="molecules per training step in the train regime (default 4,16,64)")
    sp.add_argument("--large-sizes", type=_ints, default=None, help="atoms per droplet (default up to 1e4 on CPU, 1e5 on GPU)")
    sp.add_argument("--warmup", type=int, default=None, help="untimed calls per point (default 3)")
    sp.add_argument("--repeats", type=int, default=None, help="most timed calls per point (default 20)")
    sp.add_argument("--min-repeats", type=int, default=None, help="fewest timed calls per point (default 3)")
    sp.add_argument("--max-time-per-point", type=float, default=None, help="seconds of timed calls per point (default 10)")
    sp.add_argument("--max-call-s", type=float, default=None, help="stop growing a regime when one call would exceed this (default 20 s)")
    sp.add_argument("--time-budget", type=float, default=None, help="seconds for the whole run, shared by the models (default none)")
    sp.add_argument("--threads", type=int, default=None, help="torch CPU threads (default torch's)")
    sp.add_argument("--seed", type=int, default=None)
    sp.add_argument("--override", type=_override, action="append", default=None, metavar="KEY=VALUE",
                    help="model config override for registry models, e.g. hidden=16 (repeatable)")
    sp.add_argument("--peer", default=None, help="time peer models on the same structures: mace, nequip or a comma list")
    sp.add_argument("--peer-python", default=None, help="interpreter of each peer's environment (comma list, same order as --peer)")
    sp.add_argument("--peer-channels", type=_ints, default=None, help="peer widths, comma list (default 64, or the config's peer_models)")
    sp.add_argument("--peer-max-l", type=_ints, default=None, help="peer max_L values, comma list (default 1, or the config's peer_models)")
    sp.add_argument("--peer-interactions", type=int, default=None, help="peer interaction blocks (default 2)")
    sp.add_argument("--root", default=None, help="rMD17 folder, for md molecules named rmd17:<molecule>")
    sp.add_argument("--config", default=None, help="JSON file of settings (benchmarks/configs/*.json); flags override it")
    sp.add_argument("--out", default=None, help="results root (default benchmarks/results)")
    sp.add_argument("--side-by-side", action="store_true",
                    help="time the models in turns at every point instead of one after another, so drift in the "
                         "machine's speed falls on all alike (all models stay in memory)")
    sp.add_argument("--warm-compile-cache", action="store_true",
                    help="with --compile, let torch.compile reuse kernels cached by earlier runs (default: a fresh "
                         "cache per run, so first_call_s is the compile a new installation pays)")
    sp.add_argument("--no-progress", action="store_true", help="no progress bar")
    sp.set_defaults(func=_speed)

    ac = sub.add_parser("accuracy", help="energy and force errors of pretrained checkpoints on their test split")
    ac.add_argument("--models", default="all-pretrained", help="comma list of pretrained names or folders, or all-pretrained")
    ac.add_argument("--root", default="../shared/data/rmd17", help="folder of the test data (default ../shared/data/rmd17)")
    ac.add_argument("--device", default="cpu")
    ac.add_argument("--fallback-cpu", action="store_true")
    ac.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    ac.add_argument("--batch-size", type=int, default=32)
    ac.add_argument("--max-frames", type=int, default=None, help="evaluate at most this many test frames")
    ac.add_argument("--out", default="benchmarks/results")
    ac.add_argument("--no-progress", action="store_true")
    ac.set_defaults(func=_accuracy)

    st = sub.add_parser("stability", help="time to failure of Langevin MD per model, temperature and seed")
    st.add_argument("--models", default="all-pretrained", help="comma list of pretrained names or folders, or all-pretrained")
    st.add_argument("--temperatures", default="300,500,1000", help="K, comma list (default 300,500,1000)")
    st.add_argument("--ps", type=float, default=100.0, help="target simulated time per run, ps (default 100)")
    st.add_argument("--seeds", type=int, default=3, help="runs per temperature, each from its own start frame (default 3)")
    st.add_argument("--timestep", type=float, default=0.5, help="fs (default 0.5)")
    st.add_argument("--friction", type=float, default=0.01, help="Langevin friction, 1/fs (default 0.01)")
    st.add_argument("--nve-ps", type=float, default=5.0, help="ps of NVE for the energy drift (default 5; 0: none)")
    st.add_argument("--structures", default=None, help="extxyz of start frames for every model (default: rMD17 test_01 frames)")
    st.add_argument("--root", default="../shared/data/rmd17", help="rMD17 folder (default ../shared/data/rmd17)")
    st.add_argument("--bond-stretch", type=float, default=2.25, help="failure: a start-frame bond longer than this, Å (default 2.25)")
    st.add_argument("--min-distance", type=float, default=0.6, help="failure: two atoms closer than this, Å (default 0.6)")
    st.add_argument("--workers", type=int, default=1, help="processes running in parallel (default 1)")
    st.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    st.add_argument("--device", default="cpu", help="cpu (default) or cuda[:N]; results go under the device's label")
    st.add_argument("--compile", action="store_true",
                    help="run each model under torch.compile (compiled once per run, before the timed steps)")
    st.add_argument("--batched", action="store_true",
                    help="run all of a model's trajectories as one batch (BAOAB Langevin, one model call per step)")
    st.add_argument("--checkpoint-every", type=float, default=300.0, metavar="S",
                    help="with --batched: seconds between checkpoints of the run's state; the same command "
                         "continues a stopped run from the last one (default 300)")
    st.add_argument("--out", default="benchmarks/results")
    st.set_defaults(func=_stability)

    mg = sub.add_parser("merge", help="merge result files written elsewhere (another --out, another machine)")
    mg.add_argument("files", nargs="+", help="complete result files, e.g. other/cpu-x/stability.json")
    mg.add_argument("--out", default="benchmarks/results", help="results root to merge into (default benchmarks/results)")
    mg.set_defaults(func=_merge)

    rp = sub.add_parser("report", help="markdown tables and plots from the stored results")
    rp.add_argument("--results", default="benchmarks/results", help="results root (default benchmarks/results)")
    rp.add_argument("--update-readme", default=None, metavar="README.md",
                    help="rewrite the section between <!-- bench:start --> and <!-- bench:end -->")
    rp.set_defaults(func=_report)

    parser.set_defaults(func=lambda a: (parser.print_help(), 2)[1])
