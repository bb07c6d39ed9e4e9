"""``forcefields train``: train a model from flags or a YAML config.

    forcefields train --model esen-l2-s --data rmd17:aspirin --root ../shared/data/rmd17 \\
        --split rmd17:1 --max-epochs 50 --out runs/esen-aspirin
    forcefields train --config run.yaml --max-epochs 5     # flags override the file

Every flag has a YAML key of the same name (dashes or underscores). The
resolved config is saved as ``<out>/config.yaml``; ``--resume last`` continues
the run in ``--out`` from its last checkpoint (optimiser, schedule and EMA included).
"""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["register", "config_from_args"]


def _yaml_value(text: str) -> Any:
    import yaml

    return yaml.safe_load(text)


def _optional_float(text: str) -> float | None:
    return None if text.lower() in ("none", "null", "off") else float(text)


def _optional_int(text: str) -> int | None:
    return None if text.lower() in ("none", "null", "off") else int(text)


def _devices(text: str) -> int | str:
    return int(text) if text.isdigit() else text


def _split(text: str) -> Any:
    # "rmd17:1" stays a string; "{train: 80, val: 10, test: 10}" becomes a dict.
    return _yaml_value(text) if text.strip().startswith("{") else text


def _model_arg(text: str) -> tuple[str, Any]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"--model-arg takes KEY=VALUE (e.g. hidden=32); got {text!r}.")
    return key.strip(), _yaml_value(value)


_EXAMPLES = """examples:
  forcefields train --model esen-l2-s --data rmd17:aspirin --root ../shared/data/rmd17 \\
      --split rmd17:1 --max-epochs 50 --out runs/esen-aspirin
  forcefields train --config run.yaml --max-epochs 5
  forcefields train --config run.yaml --out runs/esen-aspirin --resume last

Outputs in --out: config.yaml, checkpoints/{last,best}.ckpt, logs/ (CSV), tensorboard/,
metrics.json (meV, meV/Å) and model/ (config.json + model.safetensors, EMA weights)."""

# (flag, argparse options); dest is the TrainConfig field.
_FLAGS: list[tuple[str, dict[str, Any]]] = [
    ("--model", dict(help="registered variant, e.g. esen-l2-s (see `forcefields models`)")),
    ("--data", dict(nargs="+", help="data sources: rmd17:aspirin, md17:ethanol, or files (.extxyz, .npz, ...)")),
    ("--root", dict(help="folder holding (or receiving) the datasets")),
    ("--split", dict(type=_split, help="rmd17:N, or a YAML dict such as '{train: 80, val: 10, test: 10, seed: 0}'")),
    ("--cutoff", dict(type=float, help="neighbour cutoff in Å (default: the model's)")),
    ("--max-force", dict(type=float, metavar="EV_PER_A",
                         help="leave out frames whose largest force exceeds this (eV/Å), counted and reported")),
    ("--model-arg", dict(dest="model_args", type=_model_arg, action="append", metavar="KEY=VALUE",
                         help="override a model hyper-parameter, e.g. --model-arg hidden=32 (repeatable)")),
    ("--force-mode", dict(choices=["conservative", "direct"], help="forces as -dE/dr or from a direct head")),
    ("--dtype", dict(choices=["float32", "float64"])),
    ("--max-epochs", dict(type=int)),
    ("--max-steps", dict(type=int, help="stop after this many optimiser steps (-1: no limit)")),
    ("--max-time", dict(help="stop after DD:HH:MM:SS of training")),
    ("--batch-size", dict(type=int)),
    ("--num-workers", dict(type=int, help="data loader worker processes")),
    ("--lr", dict(type=float, help="peak learning rate (default: the variant's width-transferred rate)")),
    ("--loss", dict(choices=["mse", "l1norm", "huber"])),
    ("--energy-weight", dict(type=float)),
    ("--forces-weight", dict(type=float)),
    ("--huber-delta", dict(type=float)),
    ("--optimizer", dict(choices=["adamw", "schedulefree"])),
    ("--weight-decay", dict(type=float)),
    ("--schedule", dict(choices=["auto", "plateau", "cosine", "constant"])),
    ("--warmup-steps", dict(type=int)),
    ("--min-lr", dict(type=float)),
    ("--plateau-factor", dict(type=float)),
    ("--plateau-patience", dict(type=int)),
    ("--ema-decay", dict(type=_optional_float, help="EMA decay of the evaluation weights, or 'none'")),
    ("--augment-rotations", dict(action="store_true", help="random rotation of each training molecule every step")),
    ("--symmetry-loss", dict(type=int, nargs="?", const=5, metavar="M",
                             help="symmetry loss over M random rotations (M defaults to 5)")),
    ("--symmetry-weight", dict(type=float)),
    ("--gradient-clip", dict(type=_optional_float, help="clip the gradient norm (or 'none')")),
    ("--early-stopping-patience", dict(type=_optional_int, metavar="K")),
    ("--accelerator", dict(help="cpu, gpu, auto")),
    ("--devices", dict(type=_devices, metavar="N")),
    ("--strategy", dict(help="auto or ddp")),
    ("--out", dict(help="run folder (default runs/<model>)")),
    ("--resume", dict(metavar="PATH|last", help="continue from a checkpoint, or the last one of --out")),
    ("--init-from", dict(metavar="NAME|PATH",
                         help="start from a saved model's weights (same variant); a direct-force checkpoint "
                              "with --force-mode conservative is eSEN's two-stage recipe")),
    ("--seed", dict(type=int)),
    ("--no-progress-bar", dict(dest="progress_bar", action="store_false")),
    ("--log-every-n-steps", dict(type=int)),
]


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "train",
        help="train a model on energies and forces",
        description="Train a model on energies and forces, from flags or a YAML config (flags override it).",
        epilog=_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--config", help="YAML file of settings (flags override it)")
    for flag, options in _FLAGS:
        parser.add_argument(flag, default=argparse.SUPPRESS, **options)
    parser.set_defaults(func=run)
    return parser


def config_from_args(args: argparse.Namespace):
    """TrainConfig from defaults < ``--config`` YAML < flags."""
    from ..training.config import TrainConfig, load_config

    config = load_config(args.config) if getattr(args, "config", None) else TrainConfig()
    given = {k: v for k, v in vars(args).items() if k not in ("config", "func", "command")}
    if "model_args" in given:
        given["model_args"] = {**config.model_args, **dict(given["model_args"])}
    return config.updated(**given)


def run(args: argparse.Namespace) -> int:
    from ..training import train

    train(config_from_args(args))
    return 0
