"""The timing protocol, peak memory and the benchmark structures."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from forcefields.bench.memory import PeakMemory
from forcefields.bench.systems import WATER_SPACING, aspirin, batch_systems, md_molecule, to_batch, water_droplet
from forcefields.bench.timing import measure, summarize


def test_summary_matches_numpy_percentiles():
    rng = np.random.default_rng(1)
    xs = list(rng.uniform(0.001, 0.01, size=17))
    t = summarize(xs, warmup=2)
    assert t.median_s == pytest.approx(np.percentile(xs, 50))
    assert t.p10_s == pytest.approx(np.percentile(xs, 10))
    assert t.p90_s == pytest.approx(np.percentile(xs, 90))
    assert t.std_s == pytest.approx(np.std(xs, ddof=1))
    assert t.repeats == 17 and t.p10_s <= t.median_s <= t.p90_s


def test_measure_excludes_warmup_and_respects_caps():
    calls = []
    t = measure(lambda: calls.append(1), "cpu", warmup=4, repeats=7)
    assert len(calls) == 4 + 7 and t.repeats == 7 and t.warmup == 4

    calls.clear()
    t = measure(lambda: calls.append(1), "cpu", warmup=1, repeats=1000, min_repeats=2, max_time_s=0.0)
    assert t.repeats == 2  # the time cap stops the loop once min_repeats are done


def test_measure_refuses_zero_repeats():
    with pytest.raises(ValueError, match="repeats"):
        measure(lambda: None, "cpu", repeats=0)


def test_peak_memory_sees_a_large_torch_allocation():
    with PeakMemory("cpu") as small:
        torch.zeros(10)
    with PeakMemory("cpu") as big:
        x = torch.ones(64 * 2**20 // 4)  # 64 MiB, touched
        float(x.sum())
        del x
    assert big.method in ("rss_hwm", "ru_maxrss")
    if big.peak_mb is not None:
        assert big.peak_mb > 40
        assert small.peak_mb is None or small.peak_mb < big.peak_mb


def test_water_droplet_is_liquid_like_and_deterministic():
    a = water_droplet(300, seed=3)
    b = water_droplet(300, seed=3)
    assert len(a) == 300 and list(a.numbers[:3]) == [8, 1, 1]
    np.testing.assert_array_equal(a.positions, b.positions)
    assert not np.allclose(a.positions, water_droplet(300, seed=4).positions)
    ox = a.positions[a.numbers == 8]
    d = np.linalg.norm(ox[:, None] - ox[None], axis=-1) + np.eye(len(ox)) * 100
    nearest = d.min(1)
    assert 2.5 < nearest.min() and np.median(nearest) == pytest.approx(WATER_SPACING, abs=0.4)
    oh = np.linalg.norm(a.positions[1::3] - a.positions[0::3], axis=1)
    np.testing.assert_allclose(oh, 0.9572, atol=1e-6)
    # a sphere: the radius of gyration of the oxygens is that of a uniform ball of that volume
    r_ball = (3 * len(ox) * WATER_SPACING**3 / (4 * np.pi)) ** (1 / 3)
    rg = np.sqrt(((ox - ox.mean(0)) ** 2).sum(1).mean())
    assert rg == pytest.approx(np.sqrt(3 / 5) * r_ball, rel=0.1)


def test_molecules_and_batches():
    assert len(aspirin()) == 21 and sorted(set(aspirin().numbers)) == [1, 6, 8]
    assert len(md_molecule("ethanol")) == 9
    with pytest.raises(KeyError, match="unknown benchmark molecule"):
        md_molecule("unobtainium")
    mols = batch_systems(4, seed=0)
    assert len(mols) == 4 and not np.allclose(mols[0].positions, mols[1].positions)
    batch = to_batch(mols)
    assert batch.num_graphs == 4 and batch.pos.shape == (84, 3) and batch.pos.dtype == torch.float32
    assert not hasattr(batch, "edge_index") or batch.edge_index is None


def test_measure_rounds_takes_turns_in_rotating_order_with_bursts():
    from forcefields.bench.timing import measure_rounds

    order = []
    fns = {k: (lambda k=k: order.append(k)) for k in "abc"}
    times = measure_rounds(fns, "cpu", repeats=4, min_repeats=4, call_s={"a": 0.5, "b": 0.02, "c": 0.5}, burst_s=0.04)
    assert {k: len(v) for k, v in times.items()} == {"a": 4, "b": 4, "c": 4}
    # b runs in bursts of two; every round starts one call further along the live list.
    assert order[:4] == ["a", "b", "b", "c"]
    assert order[4:8] == ["b", "b", "c", "a"]
    assert order[8:] == ["a", "c", "c", "a"]  # b is done; the rotation goes on over a and c


def test_measure_rounds_reports_a_failing_call_and_goes_on_with_the_others():
    from forcefields.bench.timing import measure_rounds

    def boom():
        raise ValueError("bad call")

    times = measure_rounds({"ok": lambda: None, "bad": boom}, "cpu", repeats=3, min_repeats=1)
    assert len(times["ok"]) == 3
    assert isinstance(times["bad"], ValueError)

    times = measure_rounds({"x": lambda: None, "y": lambda: None}, "cpu", repeats=1000, min_repeats=2, max_time_s=0.0)
    assert len(times["x"]) == len(times["y"]) == 2  # the cap stops new rounds once both have min_repeats
