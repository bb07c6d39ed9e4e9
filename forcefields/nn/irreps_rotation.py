"""Per-edge Wigner-D matrices that rotate spherical-harmonic features into edge frames.

Features follow e3nn's conventions: real spherical harmonics, degree ``l``
occupies the rows ``l**2 .. (l+1)**2 - 1`` ordered ``m = -l..l``, and the
``m = 0`` harmonic is symmetric about the **y** axis (``Y_1 ∝ (x, y, z)``
with ``m = 0 ↔ y``). An edge frame is a rotation ``R`` with ``R e_y = u``,
``u`` the unit edge vector; in that frame the edge lies on the symmetry axis
and only SO(2) rotations about it remain (see :mod:`forcefields.nn.so2`).

``R = Ry(α) Rx(β)`` (e3nn's Euler convention, γ = 0), so
``D_l(R) = Dy_l(α) Dx_l(β)``. Rotations about y are cheap in the real basis:
they mix only the pair ``(m, -m)`` with ``cos(|m| α)``, ``sin(|m| α)``.
Rotations about x are rotations about y conjugated by the fixed matrix of a
90° turn about z: ``Dx(β) = D(S)^T Dy(β) D(S)``. The angles never appear
explicitly: ``cos β = u_y``, ``sin β = sqrt(u_x² + u_z²)``,
``(cos α, sin α) = (u_z, u_x) / sin β``, and ``cos(mα), sin(mα)`` follow by
complex powers, so everything is smooth and batched over edges. Edges within
about 25° of the y axis (where ``sin β -> 0``) use a second chart: a fixed 90°
turn about x first, ``R = S0 R'``, which keeps gradients finite everywhere.

Every entry of ``D_l(R)`` is bilinear in the vectors ``(cos mα, sin mα)``
and ``(cos mβ, sin mβ)`` with fixed coefficients, so
:meth:`EdgeRotation.frame_matrix` builds all degrees' edge-frame matrices at
once as one matrix product of the ``(2 lmax + 1)**2`` products of these
trigonometric terms with a constant table: a few dozen batched operations
whatever ``lmax``, instead of a dozen per degree.
"""

from __future__ import annotations

from contextlib import contextmanager

import torch
from e3nn import o3
from torch import nn

__all__ = ["EdgeRotation", "wigner_blocks_reference"]

# Edges with |u_y| above this use the second chart (|u_y| = cos 25.8°).
_CHART_SWITCH = 0.9


@contextmanager
def _float64_on_cpu():
    """Default dtype float64 and default device CPU inside the block."""
    previous = torch.get_default_dtype()
    try:
        torch.set_default_dtype(torch.float64)
        with torch.device("cpu"):
            yield
    finally:
        torch.set_default_dtype(previous)


def _y_generator(l: int) -> torch.Tensor:
    """e3nn's generator of rotations about y for degree ``l``, float64 (2l+1, 2l+1)."""
    return o3.so3_generators(l).to(torch.float64)[1]


def _fixed_wigner(l: int, matrix: torch.Tensor) -> torch.Tensor:
    """Wigner-D (2l+1, 2l+1) of a fixed 3x3 rotation, in float64."""
    alpha, beta, gamma = o3.matrix_to_angles(matrix.to(torch.float64))
    return o3.wigner_D(l, alpha, beta, gamma).to(torch.float64)


def _rot_z90() -> torch.Tensor:
    """Rotation by +90° about z: e_x -> e_y."""
    return torch.tensor([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]], dtype=torch.float64)


def _rot_x90() -> torch.Tensor:
    """Rotation by +90° about x: e_y -> e_z."""
    return torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]], dtype=torch.float64)


class EdgeRotation(nn.Module):
    """Batched Wigner-D blocks of the edge frames, one (2l+1, 2l+1) block per degree.

    Parameters
    ----------
    lmax : int, highest degree

    Notes
    -----
    Constants are built once in float64 and cast (and cached) to the dtype and
    device of the edge vectors, so ``model.double()`` gives float64-exact
    rotations.
    """

    def __init__(self, lmax: int):
        super().__init__()
        self.lmax = int(lmax)
        # Built on the CPU even under `with torch.device("meta")`, and in float64:
        # e3nn builds its generators in the default dtype.
        with _float64_on_cpu():
            self._consts64 = [self._degree_constants(l) for l in range(self.lmax + 1)]
            # Y_l(e_y) has one nonzero component, m = 0 (e3nn's "component" normalisation).
            axis = torch.tensor([0.0, 1.0, 0.0])
            self._axis_harmonic = [
                float(o3.spherical_harmonics(l, axis, normalize=True, normalization="component")[l]) for l in range(self.lmax + 1)
            ]
        self._cache: dict[tuple, list[dict[str, torch.Tensor]]] = {}
        self._tables64: dict[tuple, torch.Tensor] = {}
        self._table_cache: dict[tuple, torch.Tensor] = {}

    @staticmethod
    def _degree_constants(l: int) -> dict[str, torch.Tensor]:
        """Float64 constants of degree l: |m|, pair signs of the y generator, D(S), D(S0)."""
        s, s0 = _rot_z90(), _rot_x90()
        dim = 2 * l + 1
        gen = _y_generator(l)
        flip = torch.arange(dim - 1, -1, -1)
        absm = (torch.arange(dim) - l).abs().to(torch.float64)
        coupling = gen[torch.arange(dim), flip]
        # The y generator must couple only m with -m (e3nn's real basis); check it once.
        off_pair = gen.clone()
        off_pair[torch.arange(dim), flip] = 0.0
        if off_pair.abs().max() > 1e-9:  # pragma: no cover - guards an e3nn convention change
            raise RuntimeError("e3nn's y-rotation generator is not (m, -m) paired; update EdgeRotation.")
        sign = torch.where(absm > 0, coupling / absm.clamp_min(1.0), torch.zeros_like(absm))
        return {"absm_index": absm.long(), "sign": sign, "ds": _fixed_wigner(l, s), "d0": _fixed_wigner(l, s0)}

    def _consts(self, like: torch.Tensor) -> list[dict[str, torch.Tensor]]:
        key = (like.dtype, like.device)
        if key not in self._cache:
            self._cache[key] = [
                {k: (v.to(device=like.device) if k == "absm_index" else v.to(dtype=like.dtype, device=like.device)) for k, v in c.items()}
                for c in self._consts64
            ]
        return self._cache[key]

    def _frame_table64(self, rows: tuple[tuple[int, int], ...]) -> torch.Tensor:
        """Float64 table T, (2, F, K_t * K), of the bilinear form behind :meth:`frame_matrix`.

        ``F = (2 lmax + 1)**2`` products ``t_a(α) t_b(β)`` of the trigonometric
        terms ``t = (cos 0θ, ..., cos lmax θ, sin θ, ..., sin lmax θ)``; ``T[0]``
        for the first chart, ``T[1]`` for the second (``D0`` folded in).
        """
        if rows in self._tables64:
            return self._tables64[rows]
        lmax = self.lmax
        size = (lmax + 1) ** 2
        with _float64_on_cpu():
            # Block-diagonal (over degrees) D(S), D(S0), and the y-rotation by a trigonometric vector t:
            # Dy(t)[j, j] = t_cos[|m_j|], Dy(t)[j, flip(j)] = sign_j * t_sin[|m_j|].
            ds = torch.block_diag(*[c["ds"] for c in self._consts64])
            d0 = torch.block_diag(*[c["d0"] for c in self._consts64])
            absm = torch.cat([c["absm_index"] for c in self._consts64])
            sign = torch.cat([c["sign"] for c in self._consts64])
            flip = torch.cat([l * l + torch.arange(2 * l, -1, -1) for l in range(lmax + 1)])
            num_terms = 2 * lmax + 1

            def dy(term: int) -> torch.Tensor:
                out = torch.zeros(size, size)
                j = torch.arange(size)
                if term <= lmax:  # cos(term θ) on the diagonal
                    out[j, j] = (absm == term).to(out.dtype)
                else:  # sin(mu θ) on the (m, -m) pairs
                    mu = term - lmax
                    out[j, flip] = sign * (absm == mu).to(out.dtype)
                return out

            kept = torch.tensor([l * l + l + m for l, m in rows])
            dy_terms = [dy(t) for t in range(num_terms)]
            table = torch.empty(2, num_terms, num_terms, len(rows), size)
            for a in range(num_terms):
                for b in range(num_terms):
                    d = dy_terms[a] @ ds.T @ dy_terms[b] @ ds[:, kept]  # (K, K_t): kept columns of D
                    table[0, a, b] = d.T
                    table[1, a, b] = (d0 @ d).T
        self._tables64[rows] = table.reshape(2, num_terms * num_terms, len(rows) * size)
        return self._tables64[rows]

    def frame_matrix(self, edge_vec: torch.Tensor, rows: tuple[tuple[int, int], ...]) -> torch.Tensor:
        """Rotation matrices into the edge frames, all degrees at once.

        Parameters
        ----------
        edge_vec : (E, 3), Å, nonzero
        rows : the kept edge-frame components ``(l, m)`` in the order wanted
            (for example :attr:`forcefields.nn.so2.SO2Layout.components`)

        Returns
        -------
        (E, len(rows), (lmax+1)**2) tensor: row ``(l, m)`` is column ``m`` of
        ``D_l(R_e)`` (the same numbers as :meth:`forward`) placed in the
        columns of degree ``l``, zeros elsewhere; applied to global-frame
        features it gives their edge-frame components.
        """
        rows = tuple((int(l), int(m)) for l, m in rows)
        key = (rows, edge_vec.dtype, edge_vec.device)
        if key not in self._table_cache:
            self._table_cache[key] = self._frame_table64(rows).to(dtype=edge_vec.dtype, device=edge_vec.device)
        table = self._table_cache[key]
        u = edge_vec / torch.linalg.vector_norm(edge_vec, dim=-1, keepdim=True)
        chart = u[:, 1].abs() > _CHART_SWITCH
        v = torch.where(chart.unsqueeze(-1), torch.stack([u[:, 0], u[:, 2], -u[:, 1]], dim=-1), u)
        rho = torch.hypot(v[:, 0], v[:, 2])
        # Columns (cos α, cos β), (sin α, sin β): both angles' harmonics in one recursion.
        cos_ab = torch.stack([v[:, 2] / rho, v[:, 1]], dim=-1)
        sin_ab = torch.stack([v[:, 0] / rho, rho], dim=-1)
        cos_m, sin_m = _harmonics(cos_ab, sin_ab, self.lmax)  # (E, 2, lmax+1)
        terms = torch.cat([cos_m, sin_m[..., 1:]], dim=-1)  # (E, 2, 2 lmax + 1)
        products = (terms[:, 0].unsqueeze(-1) * terms[:, 1].unsqueeze(-2)).flatten(1)  # (E, F)
        # Each edge uses the table of its chart; the 0/1 masks are exact.
        mask = chart.to(products.dtype).unsqueeze(-1)
        features = torch.cat([products * (1.0 - mask), products * mask], dim=-1)
        matrix = features @ table.flatten(0, 1)
        return matrix.view(edge_vec.shape[0], len(rows), -1)

    def reverse_signs(self, rows: tuple[tuple[int, int], ...], like: torch.Tensor) -> torch.Tensor:
        """Signs that turn an edge's frame matrix into a frame matrix of the reversed edge.

        With ``F`` the half-turn about z (``F e_y = -e_y``), ``R F`` is a frame
        of ``-u`` whenever ``R`` is one of ``u``, and ``D_l(F)`` is diagonal with
        entries ``±1`` in e3nn's real basis, so the rows of
        :meth:`frame_matrix` for ``-u`` are those for ``u`` times these signs.
        (That frame differs from the one :meth:`frame_matrix` would build
        from ``-u`` by a turn about the edge, which SO(2)-equivariant edge
        operations do not see.)

        Parameters
        ----------
        rows : the kept edge-frame components ``(l, m)``, as for :meth:`frame_matrix`
        like : tensor whose dtype and device the result takes

        Returns
        -------
        (len(rows),) tensor of ``±1``
        """
        rows = tuple((int(l), int(m)) for l, m in rows)
        key = ("reverse", rows, like.dtype, like.device)
        if key not in self._table_cache:
            with _float64_on_cpu():
                half_turn = torch.diag(torch.tensor([-1.0, -1.0, 1.0]))
                diagonals = []
                for l in range(self.lmax + 1):
                    d = _fixed_wigner(l, half_turn)
                    if (d - torch.diag(torch.diagonal(d))).abs().max() > 1e-9:  # pragma: no cover - e3nn convention guard
                        raise RuntimeError("the half-turn's Wigner matrix is not diagonal; update EdgeRotation.reverse_signs.")
                    diagonals.append(torch.diagonal(d).round())
                signs = torch.tensor([float(diagonals[l][l + m]) for l, m in rows])
            self._table_cache[key] = signs.to(dtype=like.dtype, device=like.device)
        return self._table_cache[key]

    def harmonics(self, matrix: torch.Tensor, rows: tuple[tuple[int, int], ...]) -> torch.Tensor:
        """Spherical harmonics of the edge directions read off the frame matrices.

        ``Y_l(u) = D_l(R) Y_l(e_y)`` and ``Y_l(e_y)`` is nonzero only at
        ``m = 0``, so ``Y_l(u)`` is the ``m = 0`` column of ``D_l`` (the row
        ``(l, 0)`` of ``matrix``) times that number.

        Parameters
        ----------
        matrix : (E, len(rows), (lmax+1)**2), from :meth:`frame_matrix`
        rows : the same ``rows`` (they must include every ``(l, 0)``)

        Returns
        -------
        (E, (lmax+1)**2), e3nn's ``spherical_harmonics(range(lmax+1), edge_vec,
        normalize=True, normalization="component")`` up to round-off
        """
        rows = tuple((int(l), int(m)) for l, m in rows)
        key = ("harmonics", rows, matrix.dtype, matrix.device)
        if key not in self._table_cache:
            size = (self.lmax + 1) ** 2
            flat = [rows.index((l, 0)) * size + j for l in range(self.lmax + 1) for j in range(l * l, (l + 1) ** 2)]
            scale = [self._axis_harmonic[l] for l in range(self.lmax + 1) for _ in range(2 * l + 1)]
            self._table_cache[key] = (
                torch.tensor(flat, dtype=torch.long, device=matrix.device),
                torch.tensor(scale, dtype=torch.float64).to(dtype=matrix.dtype, device=matrix.device),
            )
        flat, scale = self._table_cache[key]
        return matrix.flatten(1).index_select(1, flat) * scale

    @staticmethod
    def _rotate_rows(mat: torch.Tensor, cos_m: torch.Tensor, sin_m: torch.Tensor, sign: torch.Tensor) -> torch.Tensor:
        """Dy(angle) @ mat for a batch: mat (E or 1, 2l+1, k), cos_m/sin_m (E, 2l+1) of |m| * angle."""
        return cos_m.unsqueeze(-1) * mat + (sin_m * sign).unsqueeze(-1) * mat.flip(1)

    def forward(self, edge_vec: torch.Tensor, mmax: int | None = None) -> list[torch.Tensor]:
        """Wigner-D blocks of the edge frames.

        Parameters
        ----------
        edge_vec : (E, 3), Å, nonzero
        mmax : int, optional; keep only the columns with ``|m| <= mmax``

        Returns
        -------
        list over l = 0..lmax of (E, 2l+1, 2k+1) tensors, k = min(l, mmax):
        the columns ``m = -k..k`` of ``D_l(R_e)``, with ``R_e e_y =
        edge_vec / |edge_vec|``. A feature block ``x_l`` goes into the edge
        frame as ``D_l^T x_l`` and back as ``D_l y_l``.
        """
        consts = self._consts(edge_vec)
        u = edge_vec / torch.linalg.vector_norm(edge_vec, dim=-1, keepdim=True)
        chart = u[:, 1].abs() > _CHART_SWITCH
        # Second chart: R = S0 R' with R' e_y = S0^T u; S0^T (x, y, z) = (x, z, -y).
        v = torch.where(chart.unsqueeze(-1), torch.stack([u[:, 0], u[:, 2], -u[:, 1]], dim=-1), u)
        rho = torch.hypot(v[:, 0], v[:, 2])  # sin β >= 0.43 in either chart
        cos_b, sin_b = v[:, 1], rho
        cos_a, sin_a = v[:, 2] / rho, v[:, 0] / rho
        # cos(m θ), sin(m θ) for m = 0..lmax by complex powers of e^{iθ}.
        cos_ma, sin_ma = _harmonics(cos_a, sin_a, self.lmax)
        cos_mb, sin_mb = _harmonics(cos_b, sin_b, self.lmax)
        blocks = []
        for l, c in enumerate(consts):
            k = l if mmax is None else min(l, mmax)
            if l == 0:
                blocks.append(edge_vec.new_ones(edge_vec.shape[0], 1, 1))
                continue
            m_idx = c["absm_index"]
            # D[:, :, kept] = Dy(α) D(S)^T Dy(β) D(S)[:, kept]; products with the fixed
            # D(S) are written as (batch @ constant) so that they run as one matrix product.
            inner = self._rotate_rows(c["ds"][:, l - k : l + k + 1].unsqueeze(0), cos_mb[:, m_idx], sin_mb[:, m_idx], c["sign"])
            dx = torch.matmul(inner.transpose(1, 2), c["ds"]).transpose(1, 2)
            d = self._rotate_rows(dx, cos_ma[:, m_idx], sin_ma[:, m_idx], c["sign"])
            d_chart = torch.matmul(d.transpose(1, 2), c["d0"].transpose(0, 1)).transpose(1, 2)
            blocks.append(torch.where(chart.view(-1, 1, 1), d_chart, d))
        return blocks


def _harmonics(cos_t: torch.Tensor, sin_t: torch.Tensor, mmax: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(...) cos θ, sin θ -> (..., mmax+1) cos(mθ), sin(mθ), m = 0..mmax."""
    cs = [torch.ones_like(cos_t)]
    sn = [torch.zeros_like(sin_t)]
    for _ in range(mmax):
        c_prev, s_prev = cs[-1], sn[-1]
        cs.append(c_prev * cos_t - s_prev * sin_t)
        sn.append(s_prev * cos_t + c_prev * sin_t)
    return torch.stack(cs, dim=-1), torch.stack(sn, dim=-1)


def wigner_blocks_reference(lmax: int, edge_vec: torch.Tensor) -> list[torch.Tensor]:
    """The same blocks from e3nn's ``xyz_to_angles`` and ``wigner_D`` (slow; for tests).

    Parameters
    ----------
    lmax : int
    edge_vec : (E, 3), not parallel to the y axis

    Returns
    -------
    list over l of (E, 2l+1, 2l+1)
    """
    with _float64_on_cpu():
        alpha, beta = o3.xyz_to_angles(edge_vec.to(torch.float64).cpu())
        zero = torch.zeros_like(alpha)
        blocks = [o3.wigner_D(l, alpha, beta, zero) for l in range(lmax + 1)]
    return [b.to(dtype=edge_vec.dtype, device=edge_vec.device) for b in blocks]
