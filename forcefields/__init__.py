"""forcefields: a PyTorch Lightning model zoo of neural force fields.

The public API, re-exported lazily so that ``import forcefields`` stays light
(Lightning, ASE and the hub client load only when something needs them).
"""

from __future__ import annotations

from ._lazy import lazy_exports

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS = {
    # data
    "MolecularDataModule": "forcefields.data.datamodule",
    "DatasetStatistics": "forcefields.data.statistics",
    "compute_statistics": "forcefields.data.statistics",
    "radius_graph": "forcefields.data.neighbors",
    "DataError": "forcefields.data.errors",
    # models
    "ForceField": "forcefields.models",
    "ForceFieldConfig": "forcefields.models",
    "create_model": "forcefields.models",
    "build_model": "forcefields.models",
    "list_models": "forcefields.models",
    "list_families": "forcefields.models",
    "get_variant": "forcefields.models",
    # training
    "ForceFieldModule": "forcefields.training",
    "train": "forcefields.training",
    "TrainConfig": "forcefields.training",
    "build_trainer": "forcefields.training",
    "export_model": "forcefields.training.export",
    "finetune": "forcefields.training.finetune",
    # zoo
    "load": "forcefields.zoo",
    "save": "forcefields.zoo",
    "list_pretrained": "forcefields.zoo",
    "pretrained_info": "forcefields.zoo",
    "push": "forcefields.zoo",
    "pull": "forcefields.zoo",
    # calculator
    "calculator": "forcefields.ase_calculator",
    "ForceFieldCalculator": "forcefields.ase_calculator",
    # simulate
    "atoms_from_smiles": "forcefields.simulate.molecule",
    "run_md": "forcefields.simulate.md",
    "run_replicas": "forcefields.simulate.replicas",
    "relax": "forcefields.simulate.relax",
}

__all__ = sorted(_EXPORTS) + ["__version__"]


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
