"""The `forcefields` command.

Each sub-command lives in its own module of this package and exposes
``register(subparsers)``, which adds its parser and sets ``func``.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# (module, description); a module that is missing is simply not offered.
_COMMANDS = ["data", "models", "train", "zoo", "finetune", "bench", "md", "relax", "scaling"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="forcefields",
        description="Neural force fields: datasets, models, training, pretrained zoo, benchmarks.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _COMMANDS:
        try:
            module = importlib.import_module(f"forcefields.cli.{name}")
        except ModuleNotFoundError as err:
            if err.name == f"forcefields.cli.{name}":
                continue
            raise
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    from ..allocator import tune_malloc

    tune_malloc()  # training and MD reuse large buffers every step; FORCEFIELDS_NO_MALLOPT=1 opts out
    try:
        return int(args.func(args) or 0)
    except (ValueError, KeyError, FileNotFoundError, RuntimeError) as err:
        # A user's mistake: one sentence, no traceback (FORCEFIELDS_DEBUG=1 shows it).
        import os

        if os.environ.get("FORCEFIELDS_DEBUG"):
            raise
        msg = err.args[0] if isinstance(err, KeyError) and err.args else str(err)
        print(f"forcefields: error: {msg}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
