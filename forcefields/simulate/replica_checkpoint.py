"""Save and restore the state of batched MD replicas, so a long run survives being stopped.

A 100 ps run of a slow potential takes hours of one CPU core, a 1 ns run on a
GPU as long; :func:`forcefields.simulate.replicas.run_replicas` writes its
whole state every few minutes with :func:`save_state` and, given the same
file, continues from it with :func:`restore_state`: the same trajectories,
step for step, as an uninterrupted run (positions, velocities, forces, every
replica's random generator and its recorded energies are restored).

The file is one ``.npz`` of plain arrays (no pickle), with the run's settings
and counters as a JSON string inside; it is replaced atomically, so a run
killed while writing keeps the previous one. A file written for other settings
(structures, temperatures, seeds, steps, timestep, friction, thermostat) is
refused in one sentence rather than silently mixed in.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["run_fingerprint", "save_state", "restore_state"]

FORMAT = "forcefields.replicas/checkpoint-v1"


def run_fingerprint(structures, temperatures_K, seeds, steps: int, timestep_fs: float, friction: float,
                    thermostat: str) -> str:
    """sha256 of what decides the trajectories: start frames, temperatures, seeds and the integrator."""
    h = hashlib.sha256()
    for atoms in structures:
        h.update(np.asarray(atoms.numbers, dtype=np.int64).tobytes())
        h.update(np.asarray(atoms.positions, dtype=np.float64).tobytes())
    h.update(json.dumps([[float(t) for t in temperatures_K], [int(s) for s in seeds], int(steps), float(timestep_fs),
                         float(friction), str(thermostat)]).encode())
    return h.hexdigest()


def save_state(path: str | Path, fingerprint: str, step: int, counters: dict[str, Any], replicas: list) -> None:
    """Write every replica's state after ``step`` to ``path`` (atomically).

    Parameters
    ----------
    path : the ``.npz`` file
    fingerprint : :func:`run_fingerprint` of the run
    step : int, the last completed batched step
    counters : JSON-serialisable totals of the run so far (wall time, replica steps, ...)
    replicas : the run's ``_Replica`` objects, in order
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays: dict[str, np.ndarray] = {}
    states = []
    for k, rep in enumerate(replicas):
        res = rep.result
        states.append({"rng": rep.rng.bit_generator.state, "energy": rep.energy, "blew_up": res.blew_up,
                       "reason": res.reason, "steps": res.steps,
                       "last_steps": [int(entry[0]) for entry in rep.last],
                       "last_energies": [float(entry[3]) for entry in rep.last]})
        arrays[f"r{k}_pos"], arrays[f"r{k}_vel"], arrays[f"r{k}_forces"] = rep.pos, rep.vel, rep.forces
        arrays[f"r{k}_series"] = np.asarray([rep.times, rep.total, rep.temperatures], dtype=np.float64).reshape(3, -1)
        if rep.last:
            arrays[f"r{k}_last"] = np.stack([np.stack([entry[1], entry[2], entry[4]]) for entry in rep.last])
    meta = {"format": FORMAT, "fingerprint": fingerprint, "step": int(step), "counters": counters, "replicas": states}
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        np.savez(fh, **arrays)
    os.replace(tmp, path)


def restore_state(path: str | Path, fingerprint: str, replicas: list) -> tuple[int, dict[str, Any]] | None:
    """Load ``path`` into ``replicas``; None when there is no such file.

    Returns
    -------
    (step, counters) of the saved run

    Raises
    ------
    ValueError : the file belongs to another run, or is not a replica checkpoint
    """
    path = Path(path)
    if not path.exists():
        return None
    with np.load(path, allow_pickle=False) as data:
        try:
            meta = json.loads(bytes(data["meta"]).decode())
        except (KeyError, ValueError) as err:
            raise ValueError(f"{path.name} is not a replica checkpoint ({err}); delete it to start the run afresh.") from None
        if meta.get("format") != FORMAT or meta.get("fingerprint") != fingerprint or len(meta["replicas"]) != len(replicas):
            raise ValueError(
                f"the checkpoint {path.name} was written for other start frames, temperatures, seeds or "
                "integrator settings; delete it to start afresh, or rerun with the settings that wrote it."
            )
        for k, (rep, state) in enumerate(zip(replicas, meta["replicas"])):
            rep.pos, rep.vel, rep.forces = data[f"r{k}_pos"].copy(), data[f"r{k}_vel"].copy(), data[f"r{k}_forces"].copy()
            rep.rng.bit_generator.state = state["rng"]
            rep.energy = float(state["energy"])
            series = data[f"r{k}_series"]
            rep.times, rep.total, rep.temperatures = (list(map(float, row)) for row in series)
            rep.last.clear()
            if state["last_steps"]:
                frames = data[f"r{k}_last"]
                for step, energy, (pos, momenta, forces) in zip(state["last_steps"], state["last_energies"], frames):
                    rep.last.append((step, pos.copy(), momenta.copy(), energy, forces.copy()))
            rep.result.blew_up, rep.result.reason, rep.result.steps = state["blew_up"], state["reason"], state["steps"]
    return int(meta["step"]), dict(meta["counters"])
