"""The end-of-training summary: a rich table of test metrics and run facts."""

from __future__ import annotations

from typing import Any

from .metrics import METRIC_UNITS

__all__ = ["summary_table", "print_summary"]

_ROWS = (
    ("energy_mae", "energy MAE"),
    ("energy_per_atom_mae", "energy MAE per atom"),
    ("energy_rmse", "energy RMSE"),
    ("forces_mae", "force MAE"),
    ("forces_rmse", "force RMSE"),
)


def summary_table(results: dict[str, Any]):
    """A ``rich.table.Table`` of ``results`` (as written to metrics.json)."""
    from rich.table import Table

    title = f"{results.get('model', 'model')} on {', '.join(results.get('data', []))}"
    table = Table(title=title, show_header=True, header_style="bold")
    table.add_column("quantity")
    table.add_column("value", justify="right")
    table.add_column("unit")
    test = results.get("test") or {}
    for key, label in _ROWS:
        if key in test:
            table.add_row(f"test {label}", f"{test[key]:.3f}", METRIC_UNITS[key])
    if results.get("seconds_per_epoch") is not None:
        table.add_row("time per epoch", f"{results['seconds_per_epoch']:.2f}", "s")
    table.add_row("parameters", f"{results.get('num_parameters', 0):,}", "")
    table.add_row("epochs / steps", f"{results.get('epochs', 0)} / {results.get('steps', 0)}", "")
    return table


def print_summary(results: dict[str, Any]) -> None:
    from ..console import make_console

    make_console().print(summary_table(results))
