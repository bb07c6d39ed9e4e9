"""A batched MD run stopped part-way continues from its checkpoint as if it had never stopped."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ase.build import molecule

from forcefields.simulate.replicas import run_replicas


class StopAfter(torch.nn.Module):
    """The model, until its ``calls``-th call, which stops the run as a killed job would."""

    def __init__(self, model, calls: int):
        super().__init__()
        self.inner, self.calls = model, calls
        self.cutoff = model.cutoff

    def element_index(self, z):
        return self.inner.element_index(z)

    def forward(self, data, compute_forces=True):
        self.calls -= 1
        if self.calls < 0:
            raise KeyboardInterrupt
        return self.inner(data, compute_forces=compute_forces)


def _starts():
    out = []
    for name, seed in (("CH3CH2OH", 0), ("H2O", 1)):
        atoms = molecule(name)
        atoms.rattle(stdev=0.02, seed=seed)
        out.append(atoms)
    return out


def _water_breaks_early(positions: np.ndarray) -> str | None:
    """Trips for the 3-atom replica once its O-H bond passes its start length plus 0.002 Å."""
    if len(positions) == 3 and np.linalg.norm(positions[0] - positions[1]) > _water_breaks_early.limit:
        return "the O-H bond stretched"
    return None


def _run(model, checkpoint=None, every=300.0):
    starts = _starts()
    _water_breaks_early.limit = np.linalg.norm(starts[1].positions[0] - starts[1].positions[1]) + 0.002
    return run_replicas(model, starts, [300.0, 600.0], [4, 5], steps=40, timestep_fs=0.5,
                        stop_when=[None, _water_breaks_early], checkpoint=checkpoint, checkpoint_every_s=every)


def test_a_stopped_run_resumes_to_the_same_trajectories(model, tmp_path):
    reference, ref_timing = _run(model)
    assert reference[1].blew_up and not reference[0].blew_up  # the test covers a failure kept across the stop
    failed_at = reference[1].steps

    path = tmp_path / "run.npz"
    with pytest.raises(KeyboardInterrupt):
        _run(StopAfter(model, calls=failed_at + 10), checkpoint=path, every=0.0)  # saves after every step
    assert path.exists() and not path.with_name("run.npz.tmp").exists()

    resumed, timing = _run(model, checkpoint=path)
    assert timing.batch_steps == 40 and timing.replica_steps == ref_timing.replica_steps
    for a, b in zip(reference, resumed):
        assert (a.steps, a.blew_up, a.reason) == (b.steps, b.blew_up, b.reason)
        assert a.temperature_mean == pytest.approx(b.temperature_mean, rel=1e-12)
        assert a.energy_drift == pytest.approx(b.energy_drift, rel=1e-9, nan_ok=True)
    frames_a, frames_b = reference[1].last_frames, resumed[1].last_frames
    assert len(frames_a) == len(frames_b) > 0
    np.testing.assert_allclose(frames_b[-1].positions, frames_a[-1].positions, rtol=0, atol=1e-12)
    assert frames_b[-1].get_potential_energy() == pytest.approx(frames_a[-1].get_potential_energy(), rel=1e-12)

    # A finished run's checkpoint holds the end state: running again costs no steps.
    again, timing = _run(model, checkpoint=path)
    assert [r.steps for r in again] == [r.steps for r in reference] and timing.replica_steps == ref_timing.replica_steps


def test_a_checkpoint_of_another_run_is_refused(model, tmp_path):
    path = tmp_path / "run.npz"
    _run(model, checkpoint=path)
    with pytest.raises(ValueError, match="other start frames, temperatures, seeds.*delete it"):
        run_replicas(model, _starts(), [300.0, 600.0], [4, 6], steps=40, checkpoint=path)
