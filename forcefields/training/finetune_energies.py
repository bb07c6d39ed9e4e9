"""Per-element reference energies E0 when a model moves to new data.

A model's energy is ``E = E_net + sum_i E0[z_i]``. New data may come from
another code or level of theory, whose energies differ from the parent's by
(roughly) a constant per element, so before training the E0 table is set in
one of three ways:

``"refit"`` (default)
    least squares on the training frames: find the correction ``ΔE0`` that
    best explains ``E_ref - E_parent`` by element counts, so the parent's
    network is kept and only the per-atom shift is corrected:
    ``E0_new = E0_parent + ΔE0`` with ``ΔE0 = argmin ‖C ΔE0 - (E_ref - E_parent)‖``.
    When the counts cannot separate the elements (a single molecule), the
    smallest correction is taken, with new elements (E0_parent = 0) allowed
    to move :data:`NEW_ELEMENT_PRIOR` times more freely than known ones, so
    they absorb what the parent cannot explain.
``"parent"``
    keep the parent's E0; only elements new to the parent are fitted.
``"user"``
    E0 given by the user (eV, by atomic number or symbol); elements given
    neither there nor by the parent (new ones) are fitted.

All energies in eV.
"""

from __future__ import annotations

import json
from typing import Any, Iterable

import numpy as np
import torch

__all__ = [
    "REFERENCE_MODES",
    "NEW_ELEMENT_PRIOR",
    "parse_e0",
    "element_counts",
    "network_energies",
    "fit_reference_energies",
    "reference_energies",
    "set_atomic_energies",
    "atomic_energies_of",
]

REFERENCE_MODES = ("refit", "parent", "user")
# How much more freely a new element's E0 may move than a known one's when the
# fit is under-determined (scale of its column in the minimum-norm solution).
NEW_ELEMENT_PRIOR = 1e3


def parse_e0(e0: Any) -> dict[int, float]:
    """User reference energies -> ``{Z: eV}``.

    Parameters
    ----------
    e0 : dict or JSON text, keys atomic numbers (int or str) or element
        symbols, values eV, e.g. ``'{"1": -13.6, "O": -2041.3}'``
    """
    from ase.data import atomic_numbers

    example = "'{\"1\": -13.6, \"8\": -2041.3}' (atomic number or symbol -> eV)"
    if isinstance(e0, str):
        try:
            e0 = json.loads(e0)
        except json.JSONDecodeError as err:
            raise ValueError(f"--e0 is not valid JSON ({err.msg}); give an object such as {example}.") from None
    if not isinstance(e0, dict) or not e0:
        raise ValueError(f"e0 must be a non-empty mapping such as {example}; got {e0!r}.")
    out: dict[int, float] = {}
    for key, value in e0.items():
        text = str(key).strip()
        if text.isdigit():
            z = int(text)
        elif text in atomic_numbers:
            z = atomic_numbers[text]
        else:
            raise ValueError(f"e0 key {key!r} is neither an atomic number nor an element symbol; use e.g. '1' or 'H'.")
        if not 1 <= z <= 118:
            raise ValueError(f"e0 key {key!r} is not an element (atomic numbers run 1..118).")
        try:
            out[z] = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"e0 value for {key!r} must be a number in eV; got {value!r}.") from None
        if not np.isfinite(out[z]):
            raise ValueError(f"e0 value for {key!r} is {value!r}; give a finite energy in eV.")
    return out


def element_counts(z: np.ndarray, natoms: np.ndarray, elements: list[int]) -> np.ndarray:
    """(F, K) counts of each of ``elements`` per frame, from flat ``z`` (n,) and ``natoms`` (F,)."""
    z = np.asarray(z, dtype=np.int64)
    natoms = np.asarray(natoms, dtype=np.int64)
    frame = np.repeat(np.arange(natoms.size), natoms)
    column = np.searchsorted(elements, z)
    counts = np.zeros((natoms.size, len(elements)))
    np.add.at(counts, (frame, column), 1.0)
    return counts


@torch.no_grad()
def network_energies(model: torch.nn.Module, loader: Iterable) -> np.ndarray:
    """Energies of every frame of ``loader`` without the E0 term (eV, float64, loader order)."""
    saved = model.atomic_energies.detach().clone()
    was_training = model.training
    model.eval()
    out = []
    try:
        model.atomic_energies.zero_()
        device = saved.device
        for batch in loader:
            batch = batch.to(device)
            batch.pos = batch.pos.to(saved.dtype)
            out.append(model(batch, compute_forces=False)["energy"].double().cpu().numpy())
    finally:
        model.atomic_energies.copy_(saved)
        model.train(was_training)
    return np.concatenate(out) if out else np.zeros(0)


def fit_reference_energies(
    counts: np.ndarray,
    residual: np.ndarray,
    free: np.ndarray,
    prior: np.ndarray | None = None,
) -> np.ndarray:
    """Least-squares correction of the free columns: ``argmin ‖C[:, free] Δ - residual‖``.

    Parameters
    ----------
    counts : (F, K) element counts
    residual : (F,) eV, what the current energies miss (reference minus prediction)
    free : (K,) bool, which elements may change
    prior : (K,) column scales; the minimum-norm solution of the scaled
        problem is taken, so a larger scale lets an element move more when
        the counts cannot tell the elements apart (default all 1)

    Returns
    -------
    (K,) correction in eV (0 for fixed elements).
    """
    counts = np.asarray(counts, dtype=np.float64)
    residual = np.asarray(residual, dtype=np.float64)
    free = np.asarray(free, dtype=bool)
    delta = np.zeros(counts.shape[1])
    if not free.any():
        return delta
    scale = np.ones(counts.shape[1]) if prior is None else np.asarray(prior, dtype=np.float64)
    a = counts[:, free] * scale[free]
    u, *_ = np.linalg.lstsq(a, residual, rcond=None)
    delta[free] = scale[free] * u
    return delta


def atomic_energies_of(model: torch.nn.Module) -> dict[int, float]:
    """The model's E0 table ``{Z: eV}`` for its elements."""
    table = model.atomic_energies.detach().double().cpu()
    return {int(z): float(table[int(z)]) for z in model.config.elements}


def set_atomic_energies(model: torch.nn.Module, e0: dict[int, float]) -> None:
    """Write E0 into the model's buffer and its config (kept in step; in place)."""
    with torch.no_grad():
        for z, value in e0.items():
            model.atomic_energies[int(z)] = float(value)
    config = dict(model.config.atomic_energies)
    config.update({str(int(z)): float(v) for z, v in e0.items()})
    model.config.atomic_energies = dict(sorted(config.items(), key=lambda kv: int(kv[0])))


def reference_energies(
    model: torch.nn.Module,
    mode: str,
    z: np.ndarray,
    natoms: np.ndarray,
    energy: np.ndarray,
    loader: Iterable,
    parent_elements: Iterable[int],
    user: dict[int, float] | None = None,
) -> dict[str, Any]:
    """New E0 for the elements of the training frames.

    Parameters
    ----------
    model : ForceField (its current E0 is the starting point; not modified)
    mode : one of :data:`REFERENCE_MODES`
    z, natoms, energy : training frames as flat arrays (atomic numbers (n,),
        atoms per frame (F,), reference energies (F,) eV, float64)
    loader : the same frames, same order, as batches (for the network energies)
    parent_elements : atomic numbers the parent knew (others count as new)
    user : ``{Z: eV}`` for mode "user"

    Returns
    -------
    dict with ``atomic_energies`` ``{Z: eV}`` (every element of the data),
    ``fitted`` (the elements that were fitted), ``shift`` ``{Z: eV}`` (new
    minus previous E0) and ``residual_mae`` (meV per frame, energy error of
    the parent after the new E0, on these frames).
    """
    if mode not in REFERENCE_MODES:
        raise ValueError(f"reference_energies={mode!r} is not known; use one of {', '.join(REFERENCE_MODES)}.")
    if mode == "user" and not user:
        raise ValueError("reference_energies='user' needs the energies: pass e0 (--e0 '{\"1\": -13.6, ...}', eV).")
    if mode != "user" and user:
        raise ValueError(
            f"e0 was given but reference_energies={mode!r}; pass reference_energies='user' "
            "(--reference-energies user) to use it, or leave e0 out."
        )
    elements = sorted({int(x) for x in np.unique(z)})
    known = {int(x) for x in parent_elements}
    current = atomic_energies_of(model)
    base = np.array([current.get(e, 0.0) for e in elements])
    if mode == "user":
        for e, value in user.items():
            if e in elements:
                base[elements.index(e)] = value
        free = np.array([e not in known and e not in user for e in elements])
    elif mode == "parent":
        free = np.array([e not in known for e in elements])
    else:
        free = np.ones(len(elements), dtype=bool)
    prior = np.array([1.0 if e in known else NEW_ELEMENT_PRIOR for e in elements])
    counts = element_counts(z, natoms, elements)
    net = network_energies(model, loader)
    if net.shape != np.shape(energy):
        raise RuntimeError(f"{net.shape[0]} predicted energies for {np.shape(energy)[0]} frames; the loader must follow the arrays.")
    residual = np.asarray(energy, dtype=np.float64) - net - counts @ base
    delta = fit_reference_energies(counts, residual, free, prior)
    new = base + delta
    after = residual - counts @ delta
    table = {e: float(v) for e, v in zip(elements, new)}
    return {
        "atomic_energies": table,
        "fitted": [e for e, f in zip(elements, free) if f],
        "shift": {e: float(table[e] - current.get(e, 0.0)) for e in elements},
        "residual_mae": float(np.abs(after).mean() * 1000.0) if after.size else 0.0,
    }
