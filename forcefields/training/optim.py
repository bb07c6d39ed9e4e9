"""Optimisers: AdamW (from torch) and schedule-free AdamW.

Schedule-free AdamW (Defazio et al., "The Road Less Scheduled", 2024) replaces
the learning-rate schedule by an online average. It keeps three sequences:

    z_{t+1} = z_t - γ_t (g_t / (sqrt(v̂_t) + ε) + λ y_t)       (base AdamW-style step)
    x_{t+1} = (1 - c_{t+1}) x_t + c_{t+1} z_{t+1}             (the average; evaluate here)
    y_{t+1} = (1 - β1) z_{t+1} + β1 x_{t+1}                   (where gradients are taken)

with ``c_{t+1} = γ_t^2 / Σ_{s≤t} γ_s^2`` (γ_t includes a linear warm-up) and
``v̂`` the bias-corrected second moment. During training the parameters hold
``y`` and the state holds ``z``; ``x`` is never stored: it follows from
``x = y + (1 - 1/β1)(z - y)``. Substituting ``x_t`` gives the in-place update

    y_{t+1} = (1 - c) y_t + c z_t - γ_t (1 - β1 (1 - c)) d_t,   z_{t+1} = z_t - γ_t d_t,

where ``d_t`` is the preconditioned gradient plus weight decay.

Call :meth:`ScheduleFreeAdamW.eval` before evaluating (parameters become ``x``)
and :meth:`ScheduleFreeAdamW.train` before training again, or read ``x``
without switching with :meth:`ScheduleFreeAdamW.averaged_parameters`.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch

__all__ = ["ScheduleFreeAdamW", "OPTIMIZERS", "build_optimizer"]

OPTIMIZERS = ("adamw", "schedulefree")


class ScheduleFreeAdamW(torch.optim.Optimizer):
    """Schedule-free AdamW.

    Parameters
    ----------
    params : iterable of parameters or parameter groups
    lr : float, peak learning rate γ
    betas : (β1, β2); β1 is the interpolation between ``z`` and ``x``
    eps : float
    weight_decay : float, decoupled weight decay λ, applied at ``y``
    warmup_steps : int, linear warm-up of γ over the first steps
    """

    def __init__(
        self,
        params: Iterable,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        warmup_steps: int = 0,
    ):
        if lr <= 0:
            raise ValueError(f"learning rate lr={lr} must be positive.")
        if not (0.0 < betas[0] < 1.0 and 0.0 <= betas[1] < 1.0):
            raise ValueError(f"betas={betas} must satisfy 0 < beta1 < 1 and 0 <= beta2 < 1.")
        if warmup_steps < 0:
            raise ValueError(f"warmup_steps={warmup_steps} must be >= 0.")
        defaults = dict(
            lr=lr,
            betas=tuple(betas),
            eps=eps,
            weight_decay=weight_decay,
            warmup_steps=int(warmup_steps),
            k=0,  # steps taken by this group
            weight_sum=0.0,  # Σ γ_s^2
            lr_max=0.0,
            train_mode=True,
        )
        super().__init__(params, defaults)

    # ----------------------------------------------------------- mode switch
    @torch.no_grad()
    def eval(self) -> None:
        """Parameters y -> x (the point to evaluate)."""
        for group in self.param_groups:
            if group["train_mode"]:
                beta1 = group["betas"][0]
                for p in group["params"]:
                    z = self.state[p].get("z")
                    if z is not None:
                        p.lerp_(z, 1.0 - 1.0 / beta1)
                group["train_mode"] = False

    @torch.no_grad()
    def train(self) -> None:
        """Parameters x -> y (the point to take gradients at)."""
        for group in self.param_groups:
            if not group["train_mode"]:
                beta1 = group["betas"][0]
                for p in group["params"]:
                    z = self.state[p].get("z")
                    if z is not None:
                        p.lerp_(z, 1.0 - beta1)
                group["train_mode"] = True

    @torch.no_grad()
    def averaged_parameters(self) -> list[torch.Tensor]:
        """New tensors holding ``x`` for every parameter, in ``param_groups`` order."""
        out = []
        for group in self.param_groups:
            beta1 = group["betas"][0]
            for p in group["params"]:
                z = self.state[p].get("z")
                if z is None or not group["train_mode"]:
                    out.append(p.detach().clone())
                else:
                    out.append(p.detach().lerp(z, 1.0 - 1.0 / beta1))
        return out

    # ------------------------------------------------------------------ step
    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            if not group["train_mode"]:
                raise RuntimeError(
                    "ScheduleFreeAdamW.step() was called in eval mode; call optimizer.train() before training."
                )
            beta1, beta2 = group["betas"]
            k = group["k"] + 1
            warm = group["warmup_steps"]
            lr = group["lr"] * (min(1.0, k / warm) if warm > 0 else 1.0)
            group["lr_max"] = max(group["lr_max"], lr)
            weight = group["lr_max"] ** 2
            group["weight_sum"] += weight
            c = weight / group["weight_sum"]
            bias2 = 1.0 - beta2**k
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state["z"] = p.detach().clone()
                    state["exp_avg_sq"] = torch.zeros_like(p)
                    state["step"] = torch.zeros((), dtype=torch.float32)
                state["step"] += 1
                z, v = state["z"], state["exp_avg_sq"]
                grad = p.grad
                v.mul_(beta2).addcmul_(grad, grad, value=1.0 - beta2)
                d = grad / ((v / bias2).sqrt_().add_(group["eps"]))
                if group["weight_decay"]:
                    d.add_(p, alpha=group["weight_decay"])
                p.lerp_(z, c)
                p.add_(d, alpha=-lr * (1.0 - beta1 * (1.0 - c)))
                z.add_(d, alpha=-lr)
            group["k"] = k
        return loss


def build_optimizer(
    name: str,
    params: Iterable,
    lr: float,
    weight_decay: float = 0.0,
    betas: tuple[float, float] = (0.9, 0.999),
    warmup_steps: int = 0,
) -> torch.optim.Optimizer:
    """``"adamw"`` (torch.optim.AdamW) or ``"schedulefree"`` (:class:`ScheduleFreeAdamW`)."""
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, betas=betas, weight_decay=weight_decay)
    if name == "schedulefree":
        return ScheduleFreeAdamW(params, lr=lr, betas=betas, weight_decay=weight_decay, warmup_steps=warmup_steps)
    raise ValueError(f"optimizer {name!r} is not known; use one of {', '.join(OPTIMIZERS)}.")
