"""SO(2) convolutions on edge-frame features (eSCN, Passaro & Zitnick 2023).

In an edge frame (the edge on the y axis, see
:mod:`forcefields.nn.irreps_rotation`) a rotation about the edge multiplies the
pair of components ``(l, +m), (l, -m)`` by a 2x2 rotation by ``m`` times the
angle, for every ``l``. A linear map that commutes with all of them mixes
components of equal ``|m|`` only:

* ``m = 0``: any linear map over (degree, channel);
* ``m > 0``: ``(x₊, x₋) -> (W_r x₊ - W_i x₋, W_i x₊ + W_r x₋)``, a complex
  multiplication shared by the pair.

This reproduces every Clebsch-Gordan path ``l_in ⊗ Y(edge) -> l_out`` at a
cost of order ``lmax³`` per edge instead of ``lmax⁶``. The ``W_r`` part holds
the paths with ``l_in + l_f + l_out`` even, ``W_i`` the odd ones; with
``parity=True`` only ``W_r`` is kept, which makes the map commute with
mirrors through the edge too, so features that transform like spherical
harmonics (parity ``(-1)^l``) stay O(3)-equivariant.

Only components with ``|m| <= mmax`` are kept in the edge frame.

Layouts
-------
*degree-major*: for ``l = 0..lmax``, ``m = -min(l, mmax)..min(l, mmax)``
(the order the rotation produces). *order-major*: the ``m = 0`` block
(``l = 0..lmax``), then for each ``m = 1..mmax`` the ``+m`` block and the
``-m`` block (``l = m..lmax`` each); the SO(2) layers work in this one.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["SO2Layout", "SO2Linear", "EdgeFrames"]


class SO2Layout(nn.Module):
    """Index maps of the truncated edge-frame coefficients (no parameters).

    Parameters
    ----------
    lmax : int
    mmax : int, 0 <= mmax <= lmax
    """

    def __init__(self, lmax: int, mmax: int):
        super().__init__()
        if not 0 <= mmax <= lmax:
            raise ValueError(f"mmax={mmax} must lie between 0 and lmax={lmax}.")
        self.lmax, self.mmax = int(lmax), int(mmax)
        degree_major: list[tuple[int, int]] = []
        self.kept_columns: list[list[int]] = []  # per l: local indices l+m of the kept m
        for l in range(lmax + 1):
            mm = min(l, mmax)
            self.kept_columns.append([l + m for m in range(-mm, mm + 1)])
            degree_major += [(l, m) for m in range(-mm, mm + 1)]
        order_major = [(l, 0) for l in range(lmax + 1)]
        for m in range(1, mmax + 1):
            order_major += [(l, m) for l in range(m, lmax + 1)]
            order_major += [(l, -m) for l in range(m, lmax + 1)]
        position = {lm: i for i, lm in enumerate(degree_major)}
        to_order = [position[lm] for lm in order_major]
        to_degree = [0] * len(to_order)
        for i, j in enumerate(to_order):
            to_degree[j] = i
        self.num_coefficients = len(degree_major)
        self.block_sizes = [lmax + 1] + [2 * (lmax + 1 - m) for m in range(1, mmax + 1)]
        self.degrees = [l for l, _ in order_major]  # degree of each order-major row
        self.register_buffer("to_order", torch.tensor(to_order, dtype=torch.long), persistent=False)
        self.register_buffer("to_degree", torch.tensor(to_degree, dtype=torch.long), persistent=False)


class SO2Linear(nn.Module):
    """Radially modulated SO(2)-equivariant linear map on order-major edge features.

    Each input coefficient (degree, order |m|, channel) is first multiplied by a
    per-edge weight computed from the edge features (the eSCN radial
    modulation), then the ``|m|`` blocks are mixed as described in the module
    docstring. ``m = 0`` outputs carry a bias (a constant along the edge is an
    equivariant function of it).

    Parameters
    ----------
    layout : SO2Layout
    in_channels, out_channels : int
    edge_channels : int, width of the per-edge features that set the modulation
    extra_scalars : int, additional invariant outputs from the m = 0 block (gates)
    parity : bool, keep only W_r (O(3)-equivariant) instead of W_r and W_i (SO(3))
    """

    def __init__(
        self,
        layout: SO2Layout,
        in_channels: int,
        out_channels: int,
        edge_channels: int,
        extra_scalars: int = 0,
        parity: bool = True,
    ):
        super().__init__()
        self.lmax, self.mmax = layout.lmax, layout.mmax
        self.cin, self.cout = int(in_channels), int(out_channels)
        self.extra_scalars = int(extra_scalars)
        self.parity = bool(parity)
        self.degrees_per_m = [self.lmax + 1 - m for m in range(self.mmax + 1)]
        self.modulation_sizes = [k * self.cin for k in self.degrees_per_m]
        self.modulation = nn.Linear(edge_channels, sum(self.modulation_sizes))
        self.fc = nn.ModuleList()
        for m, k in enumerate(self.degrees_per_m):
            if m == 0:
                self.fc.append(nn.Linear(k * self.cin, k * self.cout + self.extra_scalars))
            else:
                factor = 1 if self.parity else 2
                self.fc.append(nn.Linear(k * self.cin, factor * k * self.cout, bias=False))

    def forward(self, x: torch.Tensor, edge_feat: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Apply the map.

        Parameters
        ----------
        x : (E, K_t, C_in), order-major edge-frame coefficients
        edge_feat : (E, edge_channels), invariant edge features

        Returns
        -------
        out : (E, K_t, C_out), order-major
        extra : (E, extra_scalars), invariant
        """
        num_edges = x.shape[0]
        scales = self.modulation(edge_feat).split(self.modulation_sizes, dim=-1)
        outputs = []
        start = 0
        extra = x.new_zeros(num_edges, 0)
        for m, (k, fc, scale) in enumerate(zip(self.degrees_per_m, self.fc, scales)):
            scale = scale.view(num_edges, 1, k, self.cin)
            if m == 0:
                block = x[:, start : start + k].unsqueeze(1) * scale
                y = fc(block.reshape(num_edges, k * self.cin))
                outputs.append(y[:, : k * self.cout].view(num_edges, k, self.cout))
                extra = y[:, k * self.cout :]
                start += k
                continue
            block = x[:, start : start + 2 * k].view(num_edges, 2, k, self.cin) * scale
            y = fc(block.reshape(num_edges, 2, k * self.cin))
            if self.parity:
                outputs.append(y.reshape(num_edges, 2 * k, self.cout))
            else:
                real, imag = y.split(k * self.cout, dim=-1)
                plus = real[:, 0] - imag[:, 1]
                minus = real[:, 1] + imag[:, 0]
                outputs.append(torch.stack([plus, minus], dim=1).reshape(num_edges, 2 * k, self.cout))
            start += 2 * k
        return torch.cat(outputs, dim=1), extra


class EdgeFrames:
    """Rotations of features into and out of the edge frames of one batch.

    Parameters
    ----------
    layout : SO2Layout
    blocks : list over l of (E, 2l+1, 2l+1) Wigner-D blocks from
        :class:`forcefields.nn.irreps_rotation.EdgeRotation`
    """

    def __init__(self, layout: SO2Layout, blocks: list[torch.Tensor]):
        self.layout = layout
        self.kept = []  # per l: (E, 2l+1, 2 min(l, mmax) + 1), the columns with |m| <= mmax
        for l, block in enumerate(blocks):
            mm = min(l, layout.mmax)
            self.kept.append(block[:, :, l - mm : l + mm + 1])
        self.kept_sizes = [2 * min(l, layout.mmax) + 1 for l in range(layout.lmax + 1)]

    def to_edge(self, x: torch.Tensor) -> torch.Tensor:
        """(E, (lmax+1)**2, C) global-frame features -> (E, K_t, C) order-major edge-frame ones."""
        pieces = [x[:, :1]]  # D_0 = 1
        for l in range(1, self.layout.lmax + 1):
            pieces.append(torch.bmm(self.kept[l].transpose(1, 2), x[:, l * l : (l + 1) ** 2]))
        return torch.cat(pieces, dim=1)[:, self.layout.to_order]

    def from_edge(self, y: torch.Tensor) -> torch.Tensor:
        """(E, K_t, C) order-major edge-frame features -> (E, (lmax+1)**2, C) global frame."""
        pieces = y[:, self.layout.to_degree].split(self.kept_sizes, dim=1)
        out = [pieces[0]]
        for l in range(1, self.layout.lmax + 1):
            out.append(torch.bmm(self.kept[l], pieces[l]))
        return torch.cat(out, dim=1)
