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
the paths with ``l_in + l_f + l_out`` even (``l_f`` the degree of the edge
harmonic), ``W_i`` the odd ones; with
``parity=True`` only ``W_r`` is kept, which makes the map commute with
mirrors through the edge too, so features that transform like spherical
harmonics (parity ``(-1)^l``) stay O(3)-equivariant.

Only components with ``|m| <= mmax`` are kept in the edge frame.

Edge-frame coefficients are stored *order-major*: the ``m = 0`` block
(``l = 0..lmax``), then for each ``m = 1..mmax`` the ``+m`` block and the
``-m`` block (``l = m..lmax`` each), so every ``|m|`` block is contiguous.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from .frame_product import engine_uses_gradient, frame_product

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
        order_major = [(l, 0) for l in range(lmax + 1)]
        for m in range(1, mmax + 1):
            order_major += [(l, m) for l in range(m, lmax + 1)]
            order_major += [(l, -m) for l in range(m, lmax + 1)]
        self.components = tuple(order_major)  # (l, m) of each order-major row
        self.num_coefficients = len(order_major)
        self.block_sizes = [lmax + 1] + [2 * (lmax + 1 - m) for m in range(1, mmax + 1)]
        self.degrees = [l for l, _ in order_major]  # degree of each order-major row
        # Position of each order-major row among the kept rows listed degree by degree.
        degree_major = [(l, m) for l in range(lmax + 1) for m in range(-min(l, mmax), min(l, mmax) + 1)]
        position = {lm: i for i, lm in enumerate(degree_major)}
        index = [position[lm] for lm in order_major]
        self.register_buffer("degree_to_order", torch.tensor(index, dtype=torch.long), persistent=False)


class _ScaleBothHalves(torch.autograd.Function):
    """``x.unsqueeze(0) * scales``: x (E_f, K, C), scales (2, E_f, K, C) -> (2, E_f, K, C).

    The same numbers as the broadcast product, whose backward reduces
    ``grad * scales`` over the leading dimension of two: on CPU that reduction
    ran 5x slower than adding the two halves, which is what this backward
    does (round 8). The backward is written in differentiable operations, so
    derivatives of every order follow.
    """

    @staticmethod
    def forward(x: torch.Tensor, scales: torch.Tensor) -> torch.Tensor:
        return x.unsqueeze(0) * scales

    @staticmethod
    def setup_context(ctx, inputs, output) -> None:
        ctx.save_for_backward(*inputs)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        x, scales = ctx.saved_tensors
        grad_x = grad_scales = None
        if engine_uses_gradient(ctx, 0, x):
            first, second = (grad * scales).unbind(0)
            grad_x = first + second
        if engine_uses_gradient(ctx, 1, scales):
            grad_scales = _ScaleBothHalves.apply(x, grad)  # x.unsqueeze(0) * grad, with the same fast backward
        return grad_x, grad_scales


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
    edge_channels : int, width of the per-edge features that set the modulation;
        0 for a map without radial modulation
    extra_scalars : int, additional invariant outputs from the m = 0 block (gates)
    parity : bool, keep only W_r (O(3)-equivariant) instead of W_r and W_i (SO(3))
    paired_endpoints : bool
        The input is ``[h_src | h_dst]`` (two halves of ``in_channels``) and
        :meth:`forward` may be given ``reverse_sign``: then ``x`` holds only
        the framed edges and the map also covers their reverse edges.
    """

    def __init__(
        self,
        layout: SO2Layout,
        in_channels: int,
        out_channels: int,
        edge_channels: int,
        extra_scalars: int = 0,
        parity: bool = True,
        paired_endpoints: bool = False,
    ):
        super().__init__()
        self.lmax, self.mmax = layout.lmax, layout.mmax
        self.block_sizes = list(layout.block_sizes)
        self.cin, self.cout = int(in_channels), int(out_channels)
        self.extra_scalars = int(extra_scalars)
        self.parity = bool(parity)
        self.degrees_per_m = [self.lmax + 1 - m for m in range(self.mmax + 1)]
        self.modulation_sizes = [k * self.cin for k in self.degrees_per_m]
        self.modulation = nn.Linear(edge_channels, sum(self.modulation_sizes)) if edge_channels > 0 else None
        # Row of the modulation output (in units of C_in), laid out (|m|, l), that scales
        # each order-major row: the +m and -m rows of a degree share one set of scales.
        modulated = [(l, m) for m in range(self.mmax + 1) for l in range(m, self.lmax + 1)]
        scale_rows = [modulated.index((l, abs(m))) for l, m in layout.components]
        channels = torch.arange(self.cin)
        index = (torch.tensor(scale_rows).view(-1, 1) * self.cin + channels).flatten()
        self.register_buffer("scale_index", index, persistent=False)
        self.paired_endpoints = bool(paired_endpoints)
        if self.paired_endpoints:
            if self.cin % 2:
                raise ValueError(f"paired_endpoints needs an even in_channels ([src | dst] halves), got {self.cin}.")
            # Input channel c of a reverse edge is channel swap[c] of its forward edge ([dst | src]).
            swap = torch.arange(self.cin).roll(self.cin // 2)
            self.register_buffer("channel_swap", swap, persistent=False)
            self.register_buffer("reverse_scale_index", index.view(-1, self.cin)[:, swap].flatten(), persistent=False)
        self.fc = nn.ModuleList()
        for m, k in enumerate(self.degrees_per_m):
            if m == 0:
                self.fc.append(nn.Linear(k * self.cin, k * self.cout + self.extra_scalars))
            else:
                factor = 1 if self.parity else 2
                self.fc.append(nn.Linear(k * self.cin, factor * k * self.cout, bias=False))

    def forward(
        self, x: torch.Tensor, edge_feat: torch.Tensor, reverse_sign: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Apply the map.

        Parameters
        ----------
        x : (E, K_t, C_in), order-major edge-frame coefficients
        edge_feat : (E, edge_channels), invariant edge features; ignored (may be
            None) without modulation
        reverse_sign : (K_t,) or (K_t, 1) ``±1``, optional (``paired_endpoints`` only)
            Given, ``x`` is (E_f, K_t, C_in), the features of E_f framed edges,
            and the E = 2 E_f edges are these followed by their reverses, whose
            input is ``x`` with its ``[src | dst]`` halves swapped and its rows
            multiplied by ``reverse_sign`` (:meth:`EdgeFrames.endpoints_to_edge`);
            ``edge_feat`` is (2 E_f, edge_channels) in that order.

        Returns
        -------
        out : (E, K_t, C_out), order-major
        extra : (E, extra_scalars), invariant
        """
        if reverse_sign is not None:
            return self._forward_paired(x, edge_feat, reverse_sign.reshape(-1))
        num_edges = x.shape[0]
        if self.modulation is not None:
            # One product over all rows, from the modulation's weights expanded to one
            # row per coefficient: cheaper than a broadcast product per |m| block, whose
            # gradients need a sum over the +m/-m pair (benchmarks/esen_speed, round 7).
            weight = self.modulation.weight.index_select(0, self.scale_index)
            bias = self.modulation.bias.index_select(0, self.scale_index)
            x = x * F.linear(edge_feat, weight, bias).view(x.shape)
        blocks = x.split(self.block_sizes, dim=1)
        outputs = []
        extra = x.new_zeros(num_edges, 0)
        for m, (k, fc, block) in enumerate(zip(self.degrees_per_m, self.fc, blocks)):
            if m == 0:
                y = fc(block.reshape(num_edges, k * self.cin))
                y, extra = y.split([k * self.cout, self.extra_scalars], dim=-1)
                outputs.append(y.reshape(num_edges, k, self.cout))
                continue
            if self.parity:
                # W_r acts on x₊ and x₋ alike: one product over 2E rows. Reshaped to 2-d here:
                # given the 3-d view, torch.matmul makes one small product per edge when the
                # weight needs no gradient (frozen or inference-only models, and compiled
                # inference, whose parameters enter as constants), and a compiled training step
                # lowered its weight gradient to a sum of per-edge outer products
                # (benchmarks/esen_speed/README.md, round 13).
                y = fc(block.reshape(num_edges * 2, k * self.cin))
            else:
                # [x₊ | x₋] (E, 2k C_in) times the real form of the complex weight.
                y = F.linear(block.reshape(num_edges, 2 * k * self.cin), self.complex_weight(fc.weight, k))
            outputs.append(y.reshape(num_edges, 2 * k, self.cout))
        return torch.cat(outputs, dim=1), extra

    def _forward_paired(
        self, x: torch.Tensor, edge_feat: torch.Tensor, sign: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """:meth:`forward` with ``reverse_sign``, without building the reverse edges' input.

        The swap and the signs are folded into the weights: the reverse edges'
        modulation rows are taken channel-swapped and signed, and their SO(2)
        weights with the input channels swapped, so both halves read the same
        ``x`` and every product is one ``bmm`` over the two halves (round 8).
        """
        if not self.paired_endpoints:
            raise ValueError("reverse_sign needs an SO2Linear built with paired_endpoints=True.")
        framed = x.shape[0]
        rows = x.shape[1]
        if self.modulation is not None:
            # Rows [forward half; reverse half] of the expanded modulation, bias as the last column.
            rows_of_both = torch.cat([self.scale_index, self.reverse_scale_index])
            half_sign = torch.stack([torch.ones_like(sign), sign]).repeat_interleave(self.cin, dim=1)
            table = torch.cat([self.modulation.weight, self.modulation.bias.unsqueeze(-1)], dim=1)
            table = table.index_select(0, rows_of_both).view(2, -1, table.shape[1]) * half_sign.unsqueeze(-1)
            weight, bias = table.split([table.shape[2] - 1, 1], dim=2)  # (2, K_t C_in, F), (2, K_t C_in, 1)
            scales = torch.baddbmm(bias.transpose(1, 2), edge_feat.view(2, framed, -1), weight.transpose(1, 2))
            x = _ScaleBothHalves.apply(x, scales.view(2, framed, rows, self.cin))
        else:
            x = torch.stack([x, x * sign.view(-1, 1)])
        blocks = x.split(self.block_sizes, dim=2)
        outputs = []
        extra = x.new_zeros(2 * framed, 0)
        for m, (k, fc, block) in enumerate(zip(self.degrees_per_m, self.fc, blocks)):
            weight = fc.weight if m == 0 or self.parity else self.complex_weight(fc.weight, k)
            swapped = weight.view(weight.shape[0], -1, self.cin).index_select(2, self.channel_swap)
            weights = torch.stack([weight, swapped.view_as(weight)]).transpose(1, 2)  # (2, in, out)
            if m == 0:
                y = torch.baddbmm(fc.bias, block.reshape(2, framed, k * self.cin), weights)
                y, extra = y.split([k * self.cout, self.extra_scalars], dim=-1)
                outputs.append(y.reshape(2, framed, k, self.cout))
                extra = extra.reshape(2 * framed, self.extra_scalars)
            elif self.parity:
                y = torch.bmm(block.reshape(2, 2 * framed, k * self.cin), weights)
                outputs.append(y.view(2, framed, 2 * k, self.cout))
            else:
                y = torch.bmm(block.reshape(2, framed, 2 * k * self.cin), weights)
                outputs.append(y.view(2, framed, 2 * k, self.cout))
        return torch.cat(outputs, dim=2).view(2 * framed, rows, self.cout), extra

    def complex_weight(self, weight: torch.Tensor, k: int) -> torch.Tensor:
        """Real form of the complex weight ``W_r + i W_i`` of one ``|m| > 0`` block.

        Parameters
        ----------
        weight : (2 k C_out, k C_in), the block's ``fc`` weight, rows ``[W_r; W_i]``
        k : int, number of degrees in the block

        Returns
        -------
        (2 k C_out, 2 k C_in) matrix ``[[W_r, -W_i], [W_i, W_r]]``: applied to
        ``[x₊ | x₋]`` it gives ``[W_r x₊ - W_i x₋ | W_i x₊ + W_r x₋]``, the
        ``+m`` and ``-m`` outputs of the block in one product (as many
        multiply-adds as ``[W_r; W_i]`` applied to ``x₊`` and ``x₋`` stacked
        as 2E rows, without the split, subtraction, addition and stack that
        would then combine the four partial products).
        """
        real, imag = weight.split(k * self.cout, dim=0)
        return torch.cat([torch.cat([real, -imag], dim=1), torch.cat([imag, real], dim=1)], dim=0)


class EdgeFrames:
    """Rotations of features into and out of the edge frames of one batch.

    The per-degree Wigner blocks are assembled into one ``(E, K_t, (lmax+1)**2)``
    matrix per edge (the kept rows of the block-diagonal ``D^T``, order-major),
    so each rotation is a single batched matrix product: on CPUs this is several
    times faster than one small product per degree, despite the zeros.

    Parameters
    ----------
    layout : SO2Layout
    blocks : list over l of (E, 2l+1, 2l+1) Wigner-D blocks, or only their
        columns with ``|m| <= mmax``, from :class:`forcefields.nn.irreps_rotation.EdgeRotation`
    weight : (E,) tensor, optional
        Per-edge factor applied on the way back (the cutoff envelope): folding
        it into the small rotation matrices saves a pass over the messages.

    Notes
    -----
    Built with ``reverse_sign`` (:meth:`from_matrix`), one frame serves an edge
    and its reverse: the edges are the framed ones followed by their reverses,
    and every rotation is one product over the pairs. On a CPU a batched
    product of (9, 9) matrices costs about the same per matrix for 16 or 32
    channels, so this halves the rotation products' time; a whole training
    step gains 2-9 % (benchmarks/esen_speed/README.md, round 4). The paired
    products, which only training makes and which training differentiates
    twice, go through :func:`forcefields.nn.frame_product.frame_product`
    (4-10 % faster steps at batches of 16 and 64, no change at 4; round 7);
    energies and forces alone keep ``torch.bmm``, whose single backward gains nothing from it.
    The reverse edges' copy of the rotated features (halves swapped, rows
    signed) is never built: :class:`SO2Linear` with ``paired_endpoints``
    folds the swap and the signs into its weights (round 8).

    See Also
    --------
    from_matrix : the same from the assembled matrix, e.g. from
        :meth:`forcefields.nn.irreps_rotation.EdgeRotation.frame_matrix`
        (faster than assembling it from blocks).
    """

    def __init__(self, layout: SO2Layout, blocks: list[torch.Tensor], weight: torch.Tensor | None = None):
        size = (layout.lmax + 1) ** 2
        # Rows (l, m), |m| <= mmax, of the block-diagonal D^T, zero-padded to full width.
        rows = []
        for l, block in enumerate(blocks):
            mm = min(l, layout.mmax)
            if block.shape[2] != 2 * mm + 1:
                block = block[:, :, l - mm : l + mm + 1]
            kept = block.transpose(1, 2)
            rows.append(F.pad(kept, (l * l, size - (l + 1) ** 2)))
        self._set(torch.cat(rows, dim=1).index_select(1, layout.degree_to_order), weight)

    @classmethod
    def from_matrix(
        cls, matrix: torch.Tensor, weight: torch.Tensor | None = None, reverse_sign: torch.Tensor | None = None
    ) -> "EdgeFrames":
        """Frames from ``matrix`` (E_f, K_t, (lmax+1)**2): rows are the order-major edge-frame components.

        Parameters
        ----------
        matrix : (E_f, K_t, (lmax+1)**2), one frame per edge, or with
            ``reverse_sign`` one per pair of edges
        weight : (E_f,), optional, see the class docstring (equal for an edge
            and its reverse)
        reverse_sign : (K_t,) ``±1``, optional
            :meth:`forcefields.nn.irreps_rotation.EdgeRotation.reverse_signs`.
            Given, the edges are the E_f ``matrix`` edges followed by their
            E_f reverses in the same order (see :func:`forcefields.nn.edge_pairs.pair_edges`),
            and each rotation is one batched product over E_f pairs instead of 2 E_f edges.
        """
        frames = cls.__new__(cls)
        frames._set(matrix, weight)
        frames.reverse_sign = None if reverse_sign is None else reverse_sign.view(-1, 1)
        return frames

    def _set(self, matrix: torch.Tensor, weight: torch.Tensor | None) -> None:
        self.matrix = matrix
        self.back = matrix.transpose(1, 2)
        if weight is not None:
            self.back = self.back * weight.view(-1, 1, 1)
        self.reverse_sign = None

    def to_edge(self, x: torch.Tensor) -> torch.Tensor:
        """(E_f, (lmax+1)**2, C) global-frame features -> (E_f, K_t, C) order-major ones, in the frames as stored."""
        return torch.bmm(self.matrix, x)

    def endpoints_to_edge(self, ends: torch.Tensor) -> torch.Tensor:
        """Both endpoints' features, rotated into the frame of every edge.

        Parameters
        ----------
        ends : (E_f, (lmax+1)**2, 2C), ``[h[src] | h[dst]]`` of the frame edges

        Returns
        -------
        (E_f, K_t, 2C) order-major ``[h[src] | h[dst]]`` in each frame edge's
        frame. When paired, the reverse of an edge sees the same two rotated
        vectors, swapped, times ``reverse_sign``: that copy is never built, an
        :class:`SO2Linear` with ``paired_endpoints`` takes these and
        ``reverse_sign`` and covers both edges.
        """
        if self.reverse_sign is None:
            return torch.bmm(self.matrix, ends)
        return frame_product(self.matrix, ends)

    def from_edge(self, y: torch.Tensor) -> torch.Tensor:
        """(E, K_t, C) order-major edge-frame features of every edge -> (E, (lmax+1)**2, C) global frame, times ``weight``."""
        if self.reverse_sign is None:
            return torch.bmm(self.back, y)
        forward, reverse = y.chunk(2, dim=0)
        out = frame_product(self.back, torch.cat([forward, reverse * self.reverse_sign], dim=-1))
        return torch.cat(out.chunk(2, dim=-1), dim=0)
