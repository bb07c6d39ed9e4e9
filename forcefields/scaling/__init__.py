"""Scaling laws of neural force fields: the run grid, FLOP accounting, power-law fits, plots and advice.

    forcefields scaling run --families mpnn,egnn --widths xs,s,m,l --data rmd17:aspirin ... --out runs/scaling
    forcefields scaling fit runs/scaling

The Python API mirrors the command: :func:`plan_grid` and :func:`run_grid`
(:mod:`.grid`), :func:`fit_grid` (:mod:`.fit`), :func:`advise`
(:mod:`.advise`), :func:`make_plots` (:mod:`.plots`), :func:`grid_status`
(:mod:`.status`), :func:`write_slurm` (:mod:`.export`).
"""

from .advise import Advice, advise, format_advice
from .errors import ScalingError
from .fit import GridFit, compute_frontier, fit_grid, format_table
from .flops import count_flops, measure_training_cost, training_step_flops
from .grid import RunSpec, plan_grid, prepare_grid, run_grid, run_one
from .powerlaw import PowerLawFit, fit_c, fit_nd
from .results import RunRecord, load_runs
from .settings import ScalingSettings, eval_points

__all__ = [
    "Advice", "advise", "format_advice", "ScalingError", "GridFit", "compute_frontier", "fit_grid",
    "format_table", "count_flops", "measure_training_cost", "training_step_flops", "RunSpec", "plan_grid",
    "prepare_grid", "run_grid", "run_one", "PowerLawFit", "fit_c", "fit_nd", "RunRecord", "load_runs",
    "ScalingSettings", "eval_points",
]
