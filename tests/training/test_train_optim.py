"""Schedule-free AdamW, learning-rate schedules and the EMA."""

import pytest
import torch

from forcefields.training.ema import ExponentialMovingAverage
from forcefields.training.optim import ScheduleFreeAdamW, build_optimizer
from forcefields.training.schedules import LinearWarmup, lightning_schedulers, warmup_cosine_factor


def _quadratic(p, target, scales):
    return (scales * (p - target) ** 2).sum()


def test_schedulefree_lowers_a_quadratic():
    torch.manual_seed(0)
    target = torch.tensor([1.0, -2.0, 0.5, 3.0])
    scales = torch.tensor([1.0, 10.0, 0.1, 2.0])
    p = torch.nn.Parameter(torch.zeros(4))
    opt = ScheduleFreeAdamW([p], lr=0.1, warmup_steps=5)
    start = _quadratic(p, target, scales).item()
    for _ in range(300):
        opt.zero_grad()
        _quadratic(p, target, scales).backward()
        opt.step()
    opt.eval()  # evaluate at the average x
    end = _quadratic(p, target, scales).item()
    assert end < 1e-2 * start
    torch.testing.assert_close(p.detach(), target, atol=0.1, rtol=0)


def test_schedulefree_modes_round_trip_and_average():
    torch.manual_seed(1)
    p = torch.nn.Parameter(torch.randn(5))
    opt = ScheduleFreeAdamW([p], lr=0.05)
    for _ in range(10):
        opt.zero_grad()
        (p**2).sum().backward()
        opt.step()
    y = p.detach().clone()
    (x_read,) = opt.averaged_parameters()
    assert not torch.allclose(x_read, y)  # x and y differ after some steps
    opt.eval()
    torch.testing.assert_close(p.detach(), x_read)
    with pytest.raises(RuntimeError, match="optimizer.train"):
        opt.step()
    opt.train()
    torch.testing.assert_close(p.detach(), y, rtol=1e-6, atol=1e-6)


def test_schedulefree_state_dict_resumes_identically():
    def run(steps, opt_state=None, start=None):
        p = torch.nn.Parameter(torch.tensor([3.0, -1.0]) if start is None else start.clone())
        opt = ScheduleFreeAdamW([p], lr=0.1, warmup_steps=3, weight_decay=0.01)
        if opt_state is not None:
            opt.load_state_dict(opt_state)
        for _ in range(steps):
            opt.zero_grad()
            ((p - 1) ** 2).sum().backward()
            opt.step()
        return p.detach(), opt.state_dict()

    straight, _ = run(8)
    half, state = run(4)
    resumed, _ = run(4, state, half)
    torch.testing.assert_close(resumed, straight)


def test_build_optimizer_names():
    p = [torch.nn.Parameter(torch.zeros(2))]
    assert isinstance(build_optimizer("adamw", p, lr=1e-3), torch.optim.AdamW)
    assert isinstance(build_optimizer("schedulefree", p, lr=1e-3), ScheduleFreeAdamW)
    with pytest.raises(ValueError, match="adamw"):
        build_optimizer("sgd", p, lr=1e-3)


def test_warmup_then_plateau_can_lower_the_rate():
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.AdamW([p], lr=1.0)
    configs = lightning_schedulers(opt, "plateau", warmup_steps=4, total_steps=0, monitor="m", lr=1.0)
    warm, plateau = configs[0]["scheduler"], configs[1]["scheduler"]
    assert isinstance(warm, LinearWarmup) and configs[1]["monitor"] == "m"
    seen = [opt.param_groups[0]["lr"]]
    for _ in range(5):
        opt.step()
        warm.step()
        seen.append(opt.param_groups[0]["lr"])
    assert seen[:4] == pytest.approx([0.25, 0.5, 0.75, 1.0]) and seen[-1] == pytest.approx(1.0)
    opt.param_groups[0]["lr"] = 0.5  # what ReduceLROnPlateau does
    opt.step()
    warm.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(0.5)  # warm-up no longer overrides
    assert plateau.mode == "min"


def test_cosine_factor():
    assert warmup_cosine_factor(0, 10, 110, 0.0) == pytest.approx(0.1)
    assert warmup_cosine_factor(10, 10, 110, 0.0) == pytest.approx(1.0)
    assert warmup_cosine_factor(60, 10, 110, 0.0) == pytest.approx(0.5)
    assert warmup_cosine_factor(110, 10, 110, 0.01) == pytest.approx(0.01)


def test_cosine_follows_the_wall_clock_when_it_runs_out_first():
    # 20 of 1,000,000 steps done but half the time budget used: halfway down.
    assert warmup_cosine_factor(20, 10, 1_000_000, 0.0, lambda: 0.5) == pytest.approx(0.5)
    assert warmup_cosine_factor(20, 10, 1_000_000, 0.1, lambda: 1.0) == pytest.approx(0.1)
    # the steps are further along than the clock: the steps decide
    assert warmup_cosine_factor(60, 10, 110, 0.0, lambda: 0.1) == pytest.approx(0.5)
    # warm-up is by steps whatever the clock says
    assert warmup_cosine_factor(4, 10, 110, 0.0, lambda: 0.9) == pytest.approx(0.5)


def test_ema_update_and_state_round_trip():
    w = {"a": torch.zeros(3), "b": torch.ones(2)}
    ema = ExponentialMovingAverage(w, decay=0.9, warmup=False)
    ema.update({"a": torch.full((3,), 10.0), "b": torch.ones(2)})
    torch.testing.assert_close(ema.shadow["a"], torch.full((3,), 1.0))  # 0.9*0 + 0.1*10
    ema.update({"a": torch.full((3,), 10.0), "b": torch.ones(2)})
    torch.testing.assert_close(ema.shadow["a"], torch.full((3,), 1.9))
    other = ExponentialMovingAverage({"a": torch.zeros(3), "b": torch.zeros(2)}, decay=0.5)
    other.load_state_dict(ema.state_dict())
    assert other.num_updates == 2 and other.decay == 0.9
    torch.testing.assert_close(other.shadow["a"], ema.shadow["a"])
    with pytest.raises(KeyError, match="does not match"):
        ExponentialMovingAverage({"c": torch.zeros(1)}).load_state_dict(ema.state_dict())
    with pytest.raises(ValueError, match="decay"):
        ExponentialMovingAverage(w, decay=1.0)


def test_ema_warmup_ramps_the_decay():
    ema = ExponentialMovingAverage({"a": torch.zeros(1)}, decay=0.99)
    assert ema.current_decay() == pytest.approx(0.1)
    ema.num_updates = 10_000
    assert ema.current_decay() == pytest.approx(0.99)
