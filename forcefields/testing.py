"""Reusable checks for force-field models, in the spirit of e3nn's ``assert_equivariant``.

Every family's tests call these, and :func:`run_standard_checks` runs them all
on a registered variant. Each ``assert_*`` raises ``AssertionError`` with the
measured error; ``check_*`` functions return measured errors without judging
them (the unconstrained ``mpnn`` reports its rotation error this way).

Conventions: a batch is a ``torch_geometric`` ``Batch`` with ``z`` (n,),
``pos`` (n, 3) Å and ``batch`` (n,); the checks rebuild the neighbour list
inside the model for every perturbed geometry (they never reuse a stored
``edge_index``). A rotation ``R`` acts as ``pos -> pos @ R.T``; forces must
follow as ``F -> F @ R.T``. Energies are in eV, forces in eV/Å.
"""

from __future__ import annotations

import copy
import time
from types import SimpleNamespace
from typing import Any, Sequence

import torch

__all__ = [
    "random_rotation",
    "make_molecules",
    "morse_labels",
    "evaluate",
    "check_rotation_equivariance",
    "assert_equivariant",
    "assert_translation_invariant",
    "assert_permutation_invariant",
    "assert_forces_match_finite_differences",
    "assert_batch_consistent",
    "assert_smooth_at_cutoff",
    "assert_training_lowers_loss",
    "run_standard_checks",
    "FULL_CHECK_SIZES",
]

# Sizes whose every check runs in the test suite; larger ones are only built
# (on the meta device) and counted.
FULL_CHECK_SIZES = ("xs", "s")

ELEMENTS_HCNO = (1, 6, 7, 8)


# --------------------------------------------------------------------- data
def random_rotation(
    dtype: torch.dtype = torch.float64,
    reflect: bool = False,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """A uniformly random 3x3 rotation (det +1), or a rotation-reflection (det -1).

    Parameters
    ----------
    dtype : torch dtype of the result
    reflect : bool, compose with an inversion so that det = -1
    generator : torch.Generator, optional, for reproducibility

    Returns
    -------
    (3, 3) orthogonal matrix
    """
    a = torch.randn(3, 3, dtype=torch.float64, generator=generator)
    q, r = torch.linalg.qr(a)
    q = q * torch.sign(torch.diagonal(r)).unsqueeze(0)
    if torch.linalg.det(q) < 0:
        q[:, 0] = -q[:, 0]
    if reflect:
        q = -q
    return q.to(dtype)


def _random_molecule(num_atoms: int, elements: Sequence[int], gen: torch.Generator, dtype):
    """Grow a connected cluster: each new atom 0.95-1.6 Å from an existing one, >= 0.9 Å from all."""
    pos = [torch.zeros(3, dtype=torch.float64)]
    while len(pos) < num_atoms:
        anchor = pos[int(torch.randint(len(pos), (1,), generator=gen))]
        direction = torch.randn(3, dtype=torch.float64, generator=gen)
        direction = direction / direction.norm()
        bond = 0.95 + 0.65 * float(torch.rand(1, dtype=torch.float64, generator=gen))
        trial = anchor + bond * direction
        if min(float((trial - p).norm()) for p in pos) >= 0.9:
            pos.append(trial)
    pos_t = torch.stack(pos)
    pos_t = pos_t - pos_t.mean(0)
    idx = torch.randint(len(elements), (num_atoms,), generator=gen)
    z = torch.tensor(elements, dtype=torch.long)[idx]
    return z, pos_t.to(dtype)


def morse_labels(
    z: torch.Tensor, pos: torch.Tensor, depth: float = 0.5, width: float = 1.5, r0: float = 1.2
) -> tuple[torch.Tensor, torch.Tensor]:
    """Toy labels: a Morse pair potential over all pairs of one molecule.

    Parameters
    ----------
    z : (n,) atomic numbers (only scale the well depth a little, to make elements matter)
    pos : (n, 3) Å
    depth, width, r0 : Morse parameters (eV, 1/Å, Å)

    Returns
    -------
    energy : () eV, forces : (n, 3) eV/Å
    """
    p = pos.detach().to(torch.float64).requires_grad_(True)
    i, j = torch.triu_indices(len(z), len(z), offset=1)
    d = (p[i] - p[j]).norm(dim=-1)
    scale = depth * (1 + 0.1 * (z[i] + z[j]).to(torch.float64) / 8)
    e = (scale * ((1 - torch.exp(-width * (d - r0))) ** 2 - 1)).sum()
    (grad,) = torch.autograd.grad(e, p)
    return e.detach().to(pos.dtype), (-grad).to(pos.dtype)


def make_molecules(
    num_molecules: int = 3,
    atoms: int | tuple[int, int] = (3, 8),
    elements: Sequence[int] = ELEMENTS_HCNO,
    seed: int = 0,
    dtype: torch.dtype = torch.float64,
    labels: bool = True,
):
    """A batch of small random molecule-like clusters (H, C, N, O by default).

    Atoms are grown one by one at bond-like distances (0.95-1.6 Å from one
    atom, at least 0.9 Å from all), so geometries look like compact molecules.

    Parameters
    ----------
    num_molecules : int
    atoms : int or (low, high), atoms per molecule (inclusive range)
    elements : atomic numbers to draw from
    seed : int
    dtype : dtype of positions and labels
    labels : bool, attach toy ``energy`` (eV) and ``forces`` (eV/Å) from :func:`morse_labels`

    Returns
    -------
    torch_geometric.data.Batch with ``z``, ``pos``, ``natoms``, ``cell``,
    ``pbc`` (and ``energy``, ``forces`` when ``labels``); no ``edge_index``.
    """
    from torch_geometric.data import Batch, Data

    gen = torch.Generator().manual_seed(seed)
    low, high = (atoms, atoms) if isinstance(atoms, int) else atoms
    if low < 1 or high < low:
        raise ValueError(f"atoms={atoms} is not a valid size; give a positive int or (low, high) with low <= high.")
    data = []
    for _ in range(num_molecules):
        n = int(torch.randint(low, high + 1, (1,), generator=gen))
        z, pos = _random_molecule(n, elements, gen, dtype)
        d = Data(
            z=z,
            pos=pos,
            natoms=torch.tensor([n]),
            cell=torch.zeros(1, 3, 3, dtype=dtype),
            pbc=torch.zeros(1, 3, dtype=torch.bool),
        )
        if labels:
            e, f = morse_labels(z, pos)
            d.energy = e.reshape(1)
            d.forces = f
        data.append(d)
    return Batch.from_data_list(data)


# --------------------------------------------------------------- evaluation
def _graph(batch: Any, pos: torch.Tensor | None = None, order: torch.Tensor | None = None):
    """z / pos / batch of ``batch`` (with new positions or atom order) and no edges."""
    z = batch.z
    p = batch.pos if pos is None else pos
    b = getattr(batch, "batch", None)
    if b is None:
        b = torch.zeros(z.shape[0], dtype=torch.long, device=z.device)
    num_graphs = int(b.max()) + 1 if b.numel() else 1
    if order is not None:
        z, p, b = z[order], p[order], b[order]
    return SimpleNamespace(z=z, pos=p, batch=b, num_graphs=num_graphs, edge_index=None)


def evaluate(model, batch: Any, pos: torch.Tensor | None = None, order: torch.Tensor | None = None):
    """Energy (B,) eV and forces (n, 3) eV/Å of ``batch``, neighbour list rebuilt.

    Parameters
    ----------
    model : ForceField (its train/eval mode is left as is)
    batch : Batch with ``z``, ``pos``, ``batch``
    pos : (n, 3) Å, optional replacement positions
    order : (n,) long, optional atom permutation applied to z, pos and batch

    Returns
    -------
    energy : (B,) detached, forces : (n, 3) detached
    """
    with torch.enable_grad():
        out = model(_graph(batch, pos, order), compute_forces=True, create_graph=False)
    return out["energy"].detach(), out["forces"].detach()


def _model_dtype(model) -> torch.dtype:
    for p in model.parameters():
        return p.dtype
    return torch.get_default_dtype()


def _tolerance(atol: float | None, dtype: torch.dtype, tight: float = 1e-8) -> float:
    """The given tolerance, or a default for the dtype: ``tight`` in float64, 1e-4 otherwise."""
    if atol is not None:
        return float(atol)
    return tight if dtype == torch.float64 else 1e-4


def _max_abs(x: torch.Tensor) -> float:
    return float(x.abs().max()) if x.numel() else 0.0


# ------------------------------------------------------------------ checks
def check_rotation_equivariance(
    model, batch: Any, reflect: bool = False, rotation: torch.Tensor | None = None, seed: int = 0
) -> tuple[float, float]:
    """Measured symmetry error under a random rotation (or rotation-reflection).

    Parameters
    ----------
    model : ForceField
    batch : Batch
    reflect : bool, use an improper rotation (det -1)
    rotation : (3, 3), optional explicit matrix (overrides ``reflect``)
    seed : int, seeds the random rotation

    Returns
    -------
    energy_err : float, max |E(R x) - E(x)| over molecules (eV)
    force_err : float, max |F(R x) - F(x) R^T| over components (eV/Å)
    """
    dtype = batch.pos.dtype
    if rotation is None:
        rotation = random_rotation(dtype, reflect, torch.Generator().manual_seed(seed))
    rotation = rotation.to(dtype=dtype, device=batch.pos.device)
    e0, f0 = evaluate(model, batch)
    e1, f1 = evaluate(model, batch, pos=batch.pos @ rotation.T)
    return _max_abs(e1 - e0), _max_abs(f1 - f0 @ rotation.T)


def assert_equivariant(model, batch: Any, atol: float | None = None, reflect: bool = True, trials: int = 2) -> None:
    """Energy invariant and forces equivariant under random rotations (and reflections).

    Parameters
    ----------
    model : ForceField
    batch : Batch
    atol : float, tolerance on energies (eV) and force components (eV/Å);
        default 1e-8 in float64, 1e-4 in float32
    reflect : bool, also test improper rotations (O(3) rather than SO(3))
    trials : int, random matrices of each kind
    """
    atol = _tolerance(atol, batch.pos.dtype)
    kinds = (False, True) if reflect else (False,)
    for kind in kinds:
        for trial in range(trials):
            e_err, f_err = check_rotation_equivariance(model, batch, reflect=kind, seed=trial)
            name = "rotation-reflection" if kind else "rotation"
            if e_err > atol or f_err > atol:
                raise AssertionError(
                    f"not equivariant under a random {name}: energy error {e_err:.3e} eV, "
                    f"force error {f_err:.3e} eV/Å (atol {atol:.1e})"
                )


def assert_translation_invariant(model, batch: Any, atol: float | None = None, shift: float = 3.7) -> None:
    """Energy and forces unchanged when every atom moves by the same vector."""
    dtype = batch.pos.dtype
    atol = _tolerance(atol, dtype)
    vector = torch.tensor([1.0, -0.6, 0.3], dtype=dtype, device=batch.pos.device) * shift
    e0, f0 = evaluate(model, batch)
    e1, f1 = evaluate(model, batch, pos=batch.pos + vector)
    e_err, f_err = _max_abs(e1 - e0), _max_abs(f1 - f0)
    if e_err > atol or f_err > atol:
        raise AssertionError(
            f"not translation invariant: energy error {e_err:.3e} eV, force error {f_err:.3e} eV/Å (atol {atol:.1e})"
        )


def assert_permutation_invariant(model, batch: Any, atol: float | None = None, seed: int = 0) -> None:
    """Energies unchanged and forces permuted when atoms are reordered within each molecule."""
    atol = _tolerance(atol, batch.pos.dtype)
    gen = torch.Generator().manual_seed(seed)
    b = _graph(batch).batch
    order = torch.cat(
        [
            torch.nonzero(b == g).flatten()[torch.randperm(int((b == g).sum()), generator=gen)]
            for g in range(int(b.max()) + 1)
        ]
    ).to(b.device)
    e0, f0 = evaluate(model, batch)
    e1, f1 = evaluate(model, batch, order=order)
    e_err, f_err = _max_abs(e1 - e0), _max_abs(f1 - f0[order])
    if e_err > atol or f_err > atol:
        raise AssertionError(
            f"not permutation invariant: energy error {e_err:.3e} eV, force error {f_err:.3e} eV/Å (atol {atol:.1e})"
        )


def assert_forces_match_finite_differences(
    model, batch: Any, eps: float = 1e-4, atol: float = 1e-6, max_atoms: int = 6
) -> None:
    """Conservative forces equal -dE/dx by central differences, in float64.

    The model is copied to float64; each of the first ``max_atoms`` atoms is
    displaced by ``±eps`` Å along x, y and z.

    Parameters
    ----------
    model : ForceField with force_mode "conservative"
    batch : Batch
    eps : float, displacement (Å)
    atol : float, tolerance (eV/Å)
    max_atoms : int, atoms whose forces are checked
    """
    if not getattr(model, "conservative", True):
        raise ValueError(
            "finite differences only apply to conservative forces; this model predicts forces "
            "directly (force_mode='direct'), so check it with force_mode='conservative'."
        )
    model64 = copy.deepcopy(model).double()
    g = _graph(batch)
    pos = g.pos.detach().double()
    _, forces = evaluate(model64, batch, pos=pos)
    worst = (0.0, -1, -1)
    for atom in range(min(max_atoms, pos.shape[0])):
        # Only the atom's own molecule changes: displace and evaluate it alone.
        members = torch.nonzero(g.batch == g.batch[atom]).flatten()
        local = int((members == atom).nonzero())
        molecule = SimpleNamespace(z=g.z[members], pos=pos[members], batch=None)
        for axis in range(3):
            plus, minus = molecule.pos.clone(), molecule.pos.clone()
            plus[local, axis] += eps
            minus[local, axis] -= eps
            e_plus, _ = evaluate(model64, molecule, pos=plus)
            e_minus, _ = evaluate(model64, molecule, pos=minus)
            fd = -(e_plus[0] - e_minus[0]) / (2 * eps)
            err = abs(float(fd - forces[atom, axis]))
            if err > worst[0]:
                worst = (err, atom, axis)
    if worst[0] > atol:
        raise AssertionError(
            f"forces differ from finite differences by {worst[0]:.3e} eV/Å at atom {worst[1]}, "
            f"axis {'xyz'[worst[2]]} (atol {atol:.1e}, eps {eps} Å)"
        )


def assert_batch_consistent(model, batch: Any, atol: float | None = None) -> None:
    """A batch gives the same energies and forces as its molecules evaluated one by one."""
    atol = _tolerance(atol, batch.pos.dtype)
    e_all, f_all = evaluate(model, batch)
    g = _graph(batch)
    for k in range(g.num_graphs):
        mask = g.batch == k
        single = SimpleNamespace(z=g.z[mask], pos=g.pos[mask], batch=None)
        e_one, f_one = evaluate(model, single)
        e_err, f_err = _max_abs(e_one[0] - e_all[k]), _max_abs(f_one - f_all[mask])
        if e_err > atol or f_err > atol:
            raise AssertionError(
                f"molecule {k} alone differs from the batch: energy error {e_err:.3e} eV, "
                f"force error {f_err:.3e} eV/Å (atol {atol:.1e})"
            )


def assert_smooth_at_cutoff(model, delta: float = 1e-4, atol: float | None = None) -> None:
    """Energy and forces continuous as an atom crosses the cutoff of another.

    A pair 1.1 Å apart on the x axis and a probe atom on the same axis at
    ``cutoff ± delta`` Å from the second one (further than the cutoff from the
    first); the elements are taken from the model's element table.

    Parameters
    ----------
    model : ForceField
    delta : float, Å on each side of the cutoff
    atol : float, tolerance on the jumps (eV, eV/Å); default 1e-7 in float64, 1e-4 in float32
    """
    dtype = _model_dtype(model)
    atol = _tolerance(atol, dtype, tight=1e-7)
    device = model.energy_scale.device
    c = float(model.cutoff)
    elements = sorted(int(e) for e in model.config.elements)
    z = torch.tensor([elements[k * (len(elements) - 1) // 2] for k in range(3)], device=device)
    energies, forces = [], []
    for d in (c - delta, c + delta):
        pos = torch.tensor([[-1.1, 0.0, 0.0], [0.0, 0.0, 0.0], [d, 0.0, 0.0]], dtype=dtype, device=device)
        e, f = evaluate(model, SimpleNamespace(z=z, pos=pos, batch=None))
        energies.append(e)
        forces.append(f)
    e_jump, f_jump = _max_abs(energies[1] - energies[0]), _max_abs(forces[1] - forces[0])
    if e_jump > atol or f_jump > atol:
        raise AssertionError(
            f"not smooth at the cutoff ({c} Å): energy jumps by {e_jump:.3e} eV and forces by "
            f"{f_jump:.3e} eV/Å across ±{delta} Å (atol {atol:.1e})"
        )


def assert_training_lowers_loss(
    model, batch: Any, steps: int = 15, lr: float = 3e-3, min_drop: float = 0.2
) -> tuple[float, float]:
    """A few Adam steps on a fixed batch lower the energy + force MSE loss.

    Works on a copy of the model. Loss: mean((ΔE / n_atoms)²) + mean(ΔF²),
    with the labels' mean per-atom energy removed first.

    Parameters
    ----------
    model : ForceField
    batch : Batch with ``energy`` (B,) eV and ``forces`` (n, 3) eV/Å
    steps : int
    lr : float
    min_drop : float, the final loss must be below (1 - min_drop) times the first

    Returns
    -------
    (first_loss, last_loss)
    """
    if getattr(batch, "energy", None) is None or getattr(batch, "forces", None) is None:
        raise ValueError("the batch has no energy/forces labels; build it with make_molecules(labels=True).")
    trained = copy.deepcopy(model).train()
    optimiser = torch.optim.Adam(trained.parameters(), lr=lr)
    g = _graph(batch)
    natoms = torch.bincount(g.batch, minlength=g.num_graphs).to(batch.pos.dtype)
    # Remove a constant per-atom reference energy, as E0 fitting would.
    energy_ref = batch.energy - natoms * (batch.energy / natoms).mean()
    losses = []
    for _ in range(steps + 1):
        out = trained(g, compute_forces=True)
        loss = (((out["energy"] - energy_ref) / natoms) ** 2).mean() + ((out["forces"] - batch.forces) ** 2).mean()
        losses.append(float(loss.detach()))
        if len(losses) == steps + 1:
            break
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    first, last = losses[0], losses[-1]
    if not (last < (1 - min_drop) * first):
        raise AssertionError(
            f"{steps} Adam steps did not lower the loss enough: {first:.4g} -> {last:.4g} "
            f"(wanted a drop of {min_drop:.0%})"
        )
    return first, last


# ------------------------------------------------------------ all together
# Declared symmetry group of a family -> the transformations it must respect
# beyond translations and permutations.
_SYMMETRIES = {"E(3)": ("rotation", "rotation-reflection"), "SE(3)": ("rotation",), "T(3)": ()}

def run_standard_checks(
    model_name: str,
    force_modes: Sequence[str] = ("conservative", "direct"),
    atol: float = 1e-8,
    **overrides: Any,
) -> dict[str, Any]:
    """Build a registered variant in float64 and run every applicable check.

    What is asserted depends on the family's declared ``symmetry`` class
    attribute: ``"E(3)"`` (rotations and reflections), ``"SE(3)"`` (rotations;
    the default when a family declares nothing) or ``"T(3)"`` (translations
    only; rotation errors are measured and returned, not asserted).
    Permutation invariance, batch consistency, smoothness at the cutoff and a
    training step are checked for every family; finite-difference forces for
    conservative heads.

    Parameters
    ----------
    model_name : a name from :func:`forcefields.models.list_models`
    force_modes : force heads to check
    atol : float, tolerance of the exact symmetries (eV, eV/Å) in float64
    **overrides : config fields passed to ``create_model`` (e.g. ``cutoff``)

    Returns
    -------
    dict with, per force mode, the measured rotation and reflection errors
    (``"<mode>/rotation"``: (energy_err, force_err)) and the check time (s).
    """
    from .models import create_model

    batch = make_molecules(num_molecules=3, atoms=(3, 6), seed=1, dtype=torch.float64)
    results: dict[str, Any] = {}
    for mode in force_modes:
        start = time.perf_counter()
        model = create_model(model_name, dtype=torch.float64, seed=0, force_mode=mode, **overrides).eval()
        symmetry = getattr(type(model), "symmetry", "SE(3)")
        if symmetry not in _SYMMETRIES:
            raise ValueError(
                f"{type(model).__name__}.symmetry = {symmetry!r} is not one of {', '.join(_SYMMETRIES)}; "
                "declare which group the family respects."
            )
        rotation = check_rotation_equivariance(model, batch, reflect=False)
        reflection = check_rotation_equivariance(model, batch, reflect=True)
        results[f"{mode}/rotation"], results[f"{mode}/reflection"] = rotation, reflection
        required = {"rotation": rotation, "rotation-reflection": reflection}
        for what in _SYMMETRIES[symmetry]:
            e_err, f_err = required[what]
            if e_err > atol or f_err > atol:
                raise AssertionError(
                    f"{model_name} ({mode}, declared {symmetry}) is not equivariant under a random {what}: "
                    f"energy error {e_err:.3e} eV, force error {f_err:.3e} eV/Å (atol {atol:.1e})"
                )
        assert_translation_invariant(model, batch, atol=atol)
        assert_permutation_invariant(model, batch, atol=atol)
        assert_batch_consistent(model, batch, atol=atol)
        assert_smooth_at_cutoff(model)
        if mode == "conservative":
            assert_forces_match_finite_differences(model, batch, max_atoms=3)
        assert_training_lowers_loss(model, batch, steps=5, min_drop=0.05)
        results[f"{mode}/seconds"] = time.perf_counter() - start
    return results
