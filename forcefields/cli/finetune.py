"""``forcefields finetune``: adapt a pretrained force field to new molecules.

    forcefields finetune --from egnn-m.rmd17-all --data my_molecule.extxyz --out my-egnn \\
        --energy-key REF_energy --forces-key REF_forces --max-epochs 200
    forcefields finetune --from ./parent-ckpt --data new.extxyz --out ft --freeze backbone \\
        --reference-energies user --e0 '{"1": -13.6, "6": -1029.8, "8": -2041.3}'

Prints the parent's and the fine-tuned model's errors on the held-out frames
and saves a checkpoint (``--out``) that ``forcefields.load`` reads; its card
records the parent, the data and the recipe.
"""

from __future__ import annotations

import argparse
import shlex

__all__ = ["register", "run"]


def _optional_int(text: str) -> int | None:
    return None if text.lower() in ("none", "null", "off") else int(text)


def _optional_float(text: str) -> float | None:
    return None if text.lower() in ("none", "null", "off") else float(text)


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "finetune",
        help="fine-tune a pretrained model on new molecules",
        description=__doc__.split("\n\n")[0] + "\n\n" + __doc__.split("\n\n")[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add = parser.add_argument
    add("--from", dest="parent", required=True, metavar="NAME|PATH", help="pretrained name or checkpoint folder")
    add("--data", required=True, nargs="+", help="the new frames: an extxyz (any ASE-readable file), npz, or rmd17:<molecule>")
    add("--out", required=True, help="folder for the fine-tuned checkpoint")
    add("--name", help="checkpoint name <variant>.<tag> (default <parent variant>.<data>-ft)")
    add("--root", help="folder of named datasets (rmd17:...)")
    add("--energy-key", help="where the total energy lives in each frame (e.g. REF_energy)")
    add("--forces-key", help="where the forces live in each frame (e.g. REF_forces)")
    add("--units", help="energy unit of the data file: eV (default), kcal/mol, ...; forces in that unit per Å")
    add("--reference-energies", default="refit", choices=["refit", "parent", "user"],
        help="E0 per element: least-squares refit on the new data (default), the parent's, or --e0")
    add("--e0", help='reference energies in eV, JSON: \'{"1": -13.6, "8": -2041.3}\' (with --reference-energies user)')
    add("--freeze", default="0", metavar="0|K|backbone",
        help="freeze nothing (0), the input stage and the first K interaction blocks, or everything but the readout")
    add("--backbone-lr-factor", type=float, default=1.0, help="backbone learning rate = lr × this (default 1)")
    add("--replay", type=float, default=0.0, metavar="FRACTION",
        help="fraction of training frames drawn from the parent's training data (default 0)")
    add("--replay-data", nargs="+", help="the parent's training data (default: what its card records)")
    add("--replay-root", help="folder of the replay datasets")
    add("--new-elements", default="refuse", choices=["refuse", "extend"],
        help="elements the parent never saw: refuse (default) or extend the element embedding")
    add("--split", default="0.9,0.1", help="train,val[,test] fractions or counts (default 0.9,0.1)")
    add("--max-epochs", type=int, default=200)
    add("--max-time", help="stop after DD:HH:MM:SS")
    add("--early-stopping-patience", type=_optional_int, default=20, metavar="K",
        help="epochs without a better validation force MAE before stopping (or 'none')")
    add("--batch-size", type=int, default=8)
    add("--lr", type=float, help="readout learning rate (default: a tenth of the parent variant's training rate)")
    add("--loss", default="mse", choices=["mse", "l1norm", "huber"])
    add("--energy-weight", type=float)
    add("--forces-weight", type=float)
    add("--optimizer", default="adamw", choices=["adamw", "schedulefree"])
    add("--weight-decay", type=float, default=0.0)
    add("--schedule", default="auto", choices=["auto", "plateau", "cosine", "constant"])
    add("--warmup-steps", type=int, default=20)
    add("--ema-decay", type=_optional_float, default=0.99, help="EMA decay of the evaluation weights, or 'none'")
    add("--gradient-clip", type=_optional_float, default=10.0)
    add("--accelerator", default="auto", help="cpu, gpu, auto")
    add("--seed", type=int, default=0)
    add("--log-dir", help="write CSV/TensorBoard training logs here")
    add("--no-progress-bar", dest="verbose", action="store_false", help="no progress bar (the table is still printed)")
    parser.set_defaults(func=lambda args: run(args, parser), verbose=True)
    return parser


def command_line(args: argparse.Namespace, parser: argparse.ArgumentParser) -> str:
    """The command that reproduces ``args``: the flags whose values differ from the defaults."""
    words = ["forcefields", "finetune"]
    for action in parser._actions:
        if not action.option_strings or action.dest in ("help",):
            continue
        value = getattr(args, action.dest, None)
        if value is None or value == action.default:
            continue
        flag = action.option_strings[-1]
        if isinstance(action, argparse._StoreFalseAction):
            words.append(flag)
        elif isinstance(value, list):
            words += [flag, *map(str, value)]
        else:
            words += [flag, str(value)]
    return " ".join(shlex.quote(w) for w in words)


def run(args: argparse.Namespace, parser: argparse.ArgumentParser | None = None) -> int:
    from ..training.finetune import finetune

    data = args.data[0] if len(args.data) == 1 else list(args.data)
    replay_data = None
    if args.replay_data:
        replay_data = args.replay_data[0] if len(args.replay_data) == 1 else list(args.replay_data)
    result = finetune(
        args.parent,
        data,
        out=args.out,
        name=args.name,
        root=args.root,
        energy_key=args.energy_key,
        forces_key=args.forces_key,
        units=args.units,
        reference_energies=args.reference_energies,
        e0=args.e0,
        freeze=args.freeze,
        backbone_lr_factor=args.backbone_lr_factor,
        replay=args.replay,
        replay_data=replay_data,
        replay_root=args.replay_root,
        new_elements=args.new_elements,
        split=args.split,
        max_epochs=args.max_epochs,
        max_time=args.max_time,
        early_stopping_patience=args.early_stopping_patience,
        batch_size=args.batch_size,
        lr=args.lr,
        loss=args.loss,
        energy_weight=args.energy_weight,
        forces_weight=args.forces_weight,
        optimizer=args.optimizer,
        weight_decay=args.weight_decay,
        schedule=args.schedule,
        warmup_steps=args.warmup_steps,
        ema_decay=args.ema_decay,
        gradient_clip=args.gradient_clip,
        accelerator=args.accelerator,
        seed=args.seed,
        log_dir=args.log_dir,
        verbose=args.verbose,
        command=command_line(args, parser) if parser is not None else None,
        print_table=True,
    )
    return 0 if result.path is not None else 1
