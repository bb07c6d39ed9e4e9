"""Batched replicas: one model call per step for many trajectories, each on its own."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ase.build import molecule

from forcefields.simulate.replicas import run_replicas


class HarmonicTrap(torch.nn.Module):
    """Every atom of every replica on a spring (k eV/Å²) to the start frame ``centre``: 3 n
    independent oscillators, so the mean kinetic temperature must equal the bath's."""

    cutoff = 3.0

    def __init__(self, centre: np.ndarray, k: float = 20.0):
        super().__init__()
        self.k = torch.nn.Parameter(torch.tensor(k, dtype=torch.float64), requires_grad=False)
        self.centre = torch.as_tensor(centre, dtype=torch.float64)

    def element_index(self, z):
        return z

    def forward(self, data, compute_forces=True):
        disp = data.pos - self.centre.repeat(data.num_graphs, 1)
        per_atom = 0.5 * self.k * (disp**2).sum(-1)
        energy = torch.zeros(data.num_graphs, dtype=per_atom.dtype).index_add(0, data.batch, per_atom)
        return {"energy": energy, "forces": -self.k * disp}


def _mol(name: str, rattle: float = 0.02, seed: int = 0):
    atoms = molecule(name)
    atoms.rattle(stdev=rattle, seed=seed)
    atoms.pbc = False
    return atoms


def test_a_replica_does_not_depend_on_its_batch(model):
    ethanol, water = _mol("CH3CH2OH"), _mol("H2O")
    alone, _ = run_replicas(model, [ethanol], [100.0], [3], steps=60, thermostat="nve", timestep_fs=0.25)
    together, timing = run_replicas(model, [water, ethanol, water], [300.0, 100.0, 30.0], [1, 3, 2], steps=60,
                                    thermostat="nve", timestep_fs=0.25)
    assert [r.steps for r in together] == [60, 60, 60] and alone[0].steps == 60
    assert timing.batch_steps == 60 and timing.replica_steps == 180 and timing.ms_per_replica_step > 0
    # the same trajectory whatever shares the batch (same seed: same velocities, same forces)
    assert together[1].energy_drift == pytest.approx(alone[0].energy_drift, rel=1e-6, abs=1e-12)
    assert together[1].temperature_mean == pytest.approx(alone[0].temperature_mean, rel=1e-9)
    assert together[0].temperature_mean != pytest.approx(together[2].temperature_mean, rel=0.1)


def test_nve_conserves_energy_and_langevin_holds_each_replica_at_its_own_temperature():
    water = _mol("H2O", rattle=0.0)
    trap = HarmonicTrap(water.positions)
    nve, _ = run_replicas(trap, [water] * 2, [300.0, 300.0], [0, 1], steps=400, thermostat="nve")
    assert all(r.steps == 400 and abs(r.energy_drift) * 1e3 < 0.5 for r in nve)  # meV/atom/ps
    temps = [200.0, 200.0, 800.0, 800.0]
    res, _ = run_replicas(trap, [water] * 4, temps, [0, 1, 2, 3], steps=1500, friction=0.1)
    cold = np.mean([r.temperature_mean for r in res[:2]])
    hot = np.mean([r.temperature_mean for r in res[2:]])
    assert cold == pytest.approx(200.0, rel=0.15) and hot == pytest.approx(800.0, rel=0.15)


def test_a_failing_replica_leaves_the_batch_and_keeps_its_last_frames(model):
    calls = {"n": 0}

    def trips_at_the_tenth_step(positions):
        calls["n"] += 1
        return "the test criterion tripped" if calls["n"] > 10 else None

    res, timing = run_replicas(model, [_mol("CH3CH2OH"), _mol("CH3CH2OH", seed=1)], [300.0, 300.0], [0, 1],
                               steps=50, stop_when=[trips_at_the_tenth_step, None])
    failed, ok = res
    assert failed.blew_up and failed.steps == 9 and "at step 10 (5 fs) the test criterion tripped" == failed.reason
    assert 1 <= len(failed.last_frames) <= 10 and failed.last_frames[-1].info["step"] == 10
    assert not ok.blew_up and ok.steps == 50 and ok.simulated_ps == pytest.approx(0.025)
    assert timing.replica_steps == 10 + 50


def test_bad_input_is_refused_in_one_sentence(model):
    with pytest.raises(ValueError, match="one temperature, seed"):
        run_replicas(model, [_mol("H2O")], [300.0, 300.0], [0], steps=1)
    with pytest.raises(ValueError, match="thermostat 'nose'"):
        run_replicas(model, [_mol("H2O")], [300.0], [0], steps=1, thermostat="nose")
    periodic = _mol("H2O")
    periodic.pbc = True
    periodic.cell = [10, 10, 10]
    with pytest.raises(ValueError, match="isolated molecules only"):
        run_replicas(model, [periodic], [300.0], [0], steps=1)
