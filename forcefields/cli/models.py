"""`forcefields list`: a table of every registered model variant."""

from __future__ import annotations

import argparse
from functools import lru_cache
from typing import Any

__all__ = ["register", "count_parameters", "variant_rows"]


@lru_cache(maxsize=None)
def count_parameters(name: str) -> int:
    """Trainable parameters of a registered variant.

    The model is built on torch's ``meta`` device (shapes only, no memory and
    no initialisation work), so even the largest variants count in
    milliseconds.
    """
    import torch

    from ..models import create_model

    with torch.device("meta"):
        model = create_model(name, seed=None)
    return model.num_parameters()


def variant_rows(family: str | None = None) -> list[dict[str, Any]]:
    """One dict per variant: name, family, params, lmax, cutoff (Å), hidden, layers, lr."""
    from ..models import get_family, get_variant, list_families, list_models

    if family is not None and family not in list_families():
        raise ValueError(
            f"unknown model family {family!r}; choose one of {', '.join(list_families())}."
        )
    rows = []
    for name in list_models(family):
        variant = get_variant(name)
        config = variant.build_config()
        lmax = getattr(config, "lmax", None)
        if lmax is None:
            lmax = getattr(get_family(variant.family), "lmax", None)
        rows.append(
            dict(
                name=name,
                family=variant.family,
                params=count_parameters(name),
                lmax="-" if lmax is None else str(lmax),
                cutoff=float(config.cutoff),
                hidden=int(config.hidden),
                layers=int(config.num_layers),
                lr=float(variant.lr),
            )
        )
    return rows


def _run_list(args: argparse.Namespace) -> int:
    from rich.console import Console
    from ..console import make_console
    from rich.table import Table

    rows = variant_rows(args.family)
    table = Table(title="forcefields model variants", title_justify="left")
    for column, justify in [
        ("name", "left"),
        ("family", "left"),
        ("parameters", "right"),
        ("lmax", "right"),
        ("cutoff (Å)", "right"),
        ("hidden", "right"),
        ("layers", "right"),
        ("lr", "right"),
    ]:
        table.add_column(column, justify=justify, no_wrap=True)
    for r in rows:
        table.add_row(
            r["name"],
            r["family"],
            f"{r['params']:,}",
            r["lmax"],
            f"{r['cutoff']:g}",
            str(r["hidden"]),
            str(r["layers"]),
            f"{r['lr']:.2e}",
        )
    console = make_console()
    if not console.is_terminal and console.width < 120:
        console = Console(width=120)  # pipes and files: never crop a column
    console.print(table)
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "list",
        help="list the registered model variants",
        description="Every registered model variant with its size and recipe "
        "(parameters counted by building each model on torch's meta device).",
    )
    parser.add_argument("--family", default=None, help="only this family (e.g. mpnn, egnn, esen)")
    parser.set_defaults(func=_run_list)
