"""The training step's backward pass, to the trainable parameters only.

Conservative forces are ``F = -dE/dr``: the positions are a leaf of the graph
that the force loss is differentiated through. A plain ``loss.backward()``
fills the gradient of every leaf, so it also computes ``d(loss)/d(positions)``,
a second derivative through the geometry (distances, angles, edge frames) that
no optimiser reads. Naming the parameters as the only inputs lets autograd
skip the branches that lead to the positions alone. The parameter gradients are
the same, bit for bit; a training step is 10-20 % cheaper for the mpnn, egnn
and GemNet-OC families and unchanged for esen
(``benchmarks/esen_speed/README.md``, round 6).
"""

from __future__ import annotations

import torch

__all__ = ["backward_to_parameters", "trainable_parameters"]


def trainable_parameters(module: torch.nn.Module) -> list[torch.nn.Parameter] | None:
    """The parameters of ``module`` that require a gradient, as ``inputs`` for a backward pass; None when there are none."""
    trainable = [p for p in module.parameters() if p.requires_grad]
    return trainable or None


def backward_to_parameters(loss: torch.Tensor, module: torch.nn.Module, **kwargs) -> None:
    """``loss.backward()`` into the parameters of ``module`` that require a gradient, and nothing else.

    Parameters
    ----------
    loss : scalar tensor
    module : the module whose trainable parameters receive (accumulate) ``.grad``
    **kwargs : passed to :meth:`torch.Tensor.backward` (``retain_graph``, ...);
        an explicit ``inputs`` is kept as given

    Notes
    -----
    Leaves outside ``module`` (positions, or anything else a caller marked
    ``requires_grad``) get no ``.grad``. With no trainable parameter at all this
    is a plain ``loss.backward()``.
    """
    kwargs.setdefault("inputs", trainable_parameters(module))
    loss.backward(**kwargs)
