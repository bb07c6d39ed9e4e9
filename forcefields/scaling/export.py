"""A grid as a SLURM job array: one command per run.

    write_slurm("runs/scaling", "jobs.sh")     # then: sbatch jobs.sh

Each array task runs ``forcefields scaling run --out <grid> --only <run>``,
which reads the grid's settings from ``grid.json``, so every job trains
exactly one run and the runs' resumability carries over (a requeued job
continues from its last checkpoint; a complete run is skipped). Resources are
left to ``#SBATCH`` lines the user adds or passes (``--sbatch``); with
``devices > 1`` each job uses Lightning's DDP across its GPUs.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Sequence

from .results import load_grid

__all__ = ["slurm_script", "write_slurm", "run_commands"]


def run_commands(out: str | Path, executable: str = "forcefields") -> list[str]:
    """One shell command per planned run of the grid folder ``out``."""
    grid = load_grid(out)
    return [
        f"{executable} scaling run --out {shlex.quote(str(out))} --only {shlex.quote(r['name'])}"
        for r in grid.get("runs", [])
    ]


def slurm_script(out: str | Path, *, job_name: str = "ff-scaling", sbatch: Sequence[str] = (),
                 executable: str = "forcefields") -> str:
    """The text of a SLURM array script running every run of the grid once.

    Parameters
    ----------
    out : the grid folder
    job_name : SLURM job name
    sbatch : extra ``#SBATCH`` options, e.g. ``["gres=gpu:1", "--time=04:00:00"]`` (leading dashes optional)
    executable : the command that runs ``forcefields`` on the cluster
    """
    commands = run_commands(out, executable)
    lines = [
        "#!/bin/bash",
        f"#SBATCH --job-name={job_name}",
        f"#SBATCH --array=0-{len(commands) - 1}",
        f"#SBATCH --output={Path(out) / 'slurm-%A_%a.out'}",
        *[f"#SBATCH {opt if opt.startswith('-') else '--' + opt}" for opt in sbatch],
        "# One scaling run per array task; resubmitting resumes unfinished runs and skips complete ones.",
        "set -euo pipefail",
        "COMMANDS=(",
        *[f"  {shlex.quote(c)}" for c in commands],
        ")",
        'eval "${COMMANDS[$SLURM_ARRAY_TASK_ID]}"',
        "",
    ]
    return "\n".join(lines)


def write_slurm(out: str | Path, path: str | Path, **options) -> Path:
    """Write :func:`slurm_script` to ``path`` (executable) and return it."""
    path = Path(path)
    path.write_text(slurm_script(out, **options), encoding="utf-8")
    path.chmod(0o755)
    return path
