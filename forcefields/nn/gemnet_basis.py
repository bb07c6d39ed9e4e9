"""Angular bases of directional message passing: triplet angles and dihedrals.

The angle of a triplet is expanded in Legendre polynomials ``P_l(cos θ)``,
which are the real spherical harmonics of order m = 0 up to normalisation.
The dihedral of a quadruplet ``l -> k -> j -> i`` enters through the
"sine-weighted" harmonics

    D_m = sin^m(θ_1) sin^m(θ_2) cos(m φ),      m = 0, 1, ...

with ``θ_1`` the angle at ``k`` (between ``l`` and ``j``), ``θ_2`` the angle
at ``j`` (between ``k`` and ``i``) and ``φ`` the dihedral around ``k - j``.
They obey ``D_0 = 1``, ``D_1 = p``, ``D_{m+1} = 2 p D_m - ρ² D_{m-1}`` with
``p = u_⊥1 · u_⊥2`` (the product of the unit vectors' components
perpendicular to the central edge) and ``ρ² = sin²θ_1 sin²θ_2``: polynomials
in the components of unit vectors, so they and their gradients stay finite
when three of the atoms are collinear and the dihedral is undefined (the
factor ``sin^m`` is the one real spherical harmonics ``Y_l^m`` carry).

Only ``cos(m φ)`` appears, never ``sin(m φ)``: a mirror image has the same
basis, so a network built on it is invariant under reflections (O(3)) and
cannot tell enantiomers apart.

All functions are dimensionless and act on cosines computed from unit vectors.
"""

from __future__ import annotations

import torch

__all__ = ["legendre", "dihedral_harmonics", "triplet_cosines", "quadruplet_dihedral_terms"]


def legendre(x: torch.Tensor, num: int) -> torch.Tensor:
    """Legendre polynomials ``P_0 .. P_{num-1}`` of ``x``.

    Parameters
    ----------
    x : (T,) cosines in [-1, 1]
    num : int, number of degrees (>= 1)

    Returns
    -------
    (T, num)
    """
    out = [torch.ones_like(x)]
    if num > 1:
        out.append(x)
    for l in range(1, num - 1):
        out.append(((2 * l + 1) * x * out[l] - l * out[l - 1]) / (l + 1))
    return torch.stack(out, dim=-1)


def dihedral_harmonics(p: torch.Tensor, rho2: torch.Tensor, num: int) -> torch.Tensor:
    """``D_m = ρ^m cos(m φ)`` for ``m = 0 .. num-1`` from ``p = ρ cos φ`` and ``ρ²``.

    Parameters
    ----------
    p : (Q,) perpendicular projection ``sinθ_1 sinθ_2 cos φ``
    rho2 : (Q,) ``sin²θ_1 sin²θ_2``
    num : int (>= 1)

    Returns
    -------
    (Q, num)
    """
    out = [torch.ones_like(p)]
    if num > 1:
        out.append(p)
    for m in range(1, num - 1):
        out.append(2 * p * out[m] - rho2 * out[m - 1])
    return torch.stack(out, dim=-1)


def triplet_cosines(
    unit: torch.Tensor, target_edge: torch.Tensor, source_edge: torch.Tensor
) -> torch.Tensor:
    """Cosine of the angle at ``j`` of each triplet ``(j -> i, k -> j)``.

    Parameters
    ----------
    unit : (E, 3) unit edge vectors ``(pos[s] - pos[t]) / d``
    target_edge, source_edge : (T,) long, from :func:`~forcefields.nn.triplets.build_triplets`

    Returns
    -------
    (T,) cos of the angle between ``pos[k] - pos[j]`` and ``pos[i] - pos[j]``
    """
    # pos[k] - pos[j] is the source edge's vector, pos[i] - pos[j] minus the target's.
    return -(unit[source_edge] * unit[target_edge]).sum(-1)


def quadruplet_dihedral_terms(
    unit: torch.Tensor,
    target_edge: torch.Tensor,
    source_edge: torch.Tensor,
    cosines: torch.Tensor,
    in_triplet: torch.Tensor,
    out_triplet: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``p``, ``ρ²`` and ``cos θ_2`` of each quadruplet ``l -> k -> j -> i``.

    Parameters
    ----------
    unit : (E, 3) unit edge vectors
    target_edge, source_edge : (T,) long, the triplets
    cosines : (T,) triplet cosines from :func:`triplet_cosines`
    in_triplet, out_triplet : (Q,) long, from :func:`~forcefields.nn.triplets.build_quadruplets`

    Returns
    -------
    p : (Q,) ``sinθ_1 sinθ_2 cos φ``
    rho2 : (Q,) ``sin²θ_1 sin²θ_2``
    cos_out : (Q,) ``cos θ_2``, the angle at ``j``
    """
    cos_in = cosines[in_triplet]  # angle at k between l and j
    cos_out = cosines[out_triplet]  # angle at j between k and i
    u_kl = unit[source_edge[in_triplet]]  # unit(pos[l] - pos[k])
    u_ij = unit[target_edge[out_triplet]]  # unit(pos[j] - pos[i])
    # With a = unit(pos[k] - pos[j]) and w = -u_ij = unit(pos[i] - pos[j]):
    # p = (u_kl - (u_kl·a) a) · (w - (w·a) a) = u_kl·w - (u_kl·a)(w·a),
    # where u_kl·a = -cos_in and w·a = cos_out.
    p = -(u_kl * u_ij).sum(-1) + cos_in * cos_out
    rho2 = (1 - cos_in * cos_in) * (1 - cos_out * cos_out)
    return p, rho2, cos_out
