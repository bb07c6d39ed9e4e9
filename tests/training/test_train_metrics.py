"""Running-sum metrics equal the direct computation over the whole set."""

import torch

from forcefields.training.metrics import ForceFieldMetrics


def _random_set(num_molecules, seed):
    g = torch.Generator().manual_seed(seed)
    natoms = torch.randint(1, 6, (num_molecules,), generator=g)
    n = int(natoms.sum())
    return dict(
        energy=torch.randn(num_molecules, generator=g),
        target_energy=torch.randn(num_molecules, generator=g),
        forces=torch.randn(n, 3, generator=g),
        target_forces=torch.randn(n, 3, generator=g),
        natoms=natoms,
    )


def _slices(d, lo, hi):
    ptr = torch.cat([torch.zeros(1, dtype=torch.long), d["natoms"].cumsum(0)])
    a, b = int(ptr[lo]), int(ptr[hi])
    return (d["energy"][lo:hi], d["forces"][a:b], d["target_energy"][lo:hi], d["target_forces"][a:b], d["natoms"][lo:hi])


def _direct(d):
    de = (d["energy"] - d["target_energy"]).double()
    df = (d["forces"] - d["target_forces"]).double()
    return {
        "energy_mae": 1000 * de.abs().mean(),
        "energy_rmse": 1000 * de.pow(2).mean().sqrt(),
        "energy_per_atom_mae": 1000 * (de.abs() / d["natoms"]).mean(),
        "forces_mae": 1000 * df.abs().mean(),
        "forces_rmse": 1000 * df.pow(2).mean().sqrt(),
        "forces_norm_mae": 1000 * df.norm(dim=-1).mean(),
    }


def test_batches_of_unequal_size_aggregate_exactly():
    d = _random_set(11, seed=0)
    metric = ForceFieldMetrics()
    for lo, hi in [(0, 1), (1, 5), (5, 6), (6, 11)]:
        metric.update(*_slices(d, lo, hi))
    got, want = metric.compute(), _direct(d)
    for key in want:
        torch.testing.assert_close(got[key], want[key], rtol=1e-6, atol=1e-9)
    # a mean of per-batch MAEs would differ: the aggregation is by sums
    per_batch = []
    for lo, hi in [(0, 1), (1, 5)]:
        m = ForceFieldMetrics()
        m.update(*_slices(d, lo, hi))
        per_batch.append(m.compute()["forces_rmse"])
    assert metric.compute()["forces_rmse"] != sum(per_batch) / 2


def test_merging_rank_states_equals_the_whole_set():
    # Two "ranks" that each saw half of the data: summing the states (what
    # torchmetrics does across processes) reproduces the whole-set values.
    d = _random_set(9, seed=1)
    rank0, rank1 = ForceFieldMetrics(), ForceFieldMetrics()
    rank0.update(*_slices(d, 0, 4))
    rank1.update(*_slices(d, 4, 9))
    rank0.merge_state(rank1)
    got, want = rank0.compute(), _direct(d)
    for key in want:
        torch.testing.assert_close(got[key], want[key], rtol=1e-6, atol=1e-9)


def test_reset_and_empty_compute():
    metric = ForceFieldMetrics()
    metric.update(*_slices(_random_set(3, 2), 0, 3))
    metric.reset()
    try:
        metric.compute()
    except RuntimeError as err:
        assert "no predictions" in str(err)
    else:  # pragma: no cover
        raise AssertionError("compute() on an empty metric must refuse")
