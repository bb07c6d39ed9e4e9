"""Simulate with a potential: a molecule from SMILES, molecular dynamics, relaxation.

>>> import forcefields
>>> atoms = forcefields.atoms_from_smiles("CC(=O)Oc1ccccc1C(=O)O", seed=0)            # doctest: +SKIP
>>> forcefields.run_md(atoms, "egnn-m.qm9-xtb", temperature_K=300, steps=2000,
...                    out="aspirin-md.extxyz")                                       # doctest: +SKIP
>>> forcefields.relax(atoms, "egnn-m.qm9-xtb", fmax=0.01, out="aspirin.xyz")           # doctest: +SKIP

Modules: ``molecule`` (structures from SMILES or files), ``md`` (ASE
integrators with a summary), ``replicas`` (many trajectories in one batched
model call per step), ``relax`` (ASE optimizers with a summary). The
shell commands are ``forcefields md`` and ``forcefields relax``.
"""

from __future__ import annotations

from .._lazy import lazy_exports

_EXPORTS = {
    "atoms_from_smiles": "molecule",
    "load_structure": "molecule",
    "run_md": "md",
    "MDSummary": "md",
    "run_replicas": "replicas",
    "ReplicaResult": "replicas",
}

__all__ = sorted([*_EXPORTS, "relax", "RelaxSummary"])


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

# The function shares its module's name: bound here, once, so that `forcefields.simulate.relax`
# is always the function even after `import forcefields.simulate.relax` (that module imports ASE lazily).
from .relax import RelaxSummary, relax  # noqa: E402
