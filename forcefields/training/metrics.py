"""Energy and force error metrics, accumulated as running sums.

The state is a handful of sums (absolute and squared errors, counts), so the
value over many batches, and over the ranks of a distributed run (torchmetrics
sums the states across processes before :meth:`compute`), is exactly the value
over the whole set, whatever the batch sizes.

Reported in meV (energies) and meV/Å (forces).
"""

from __future__ import annotations

import torch
from torchmetrics import Metric

__all__ = ["ForceFieldMetrics", "METRIC_UNITS", "errors_of"]

# metric name -> unit
METRIC_UNITS = {
    "energy_mae": "meV",
    "energy_rmse": "meV",
    "energy_per_atom_mae": "meV/atom",
    "forces_mae": "meV/Å",
    "forces_rmse": "meV/Å",
    "forces_norm_mae": "meV/Å",
}

_STATES = (
    "energy_abs",  # Σ_b |ΔE_b|                 eV
    "energy_sq",  # Σ_b ΔE_b^2                  eV^2
    "energy_per_atom_abs",  # Σ_b |ΔE_b| / n_b  eV
    "forces_abs",  # Σ_{i,k} |ΔF_ik|            eV/Å
    "forces_sq",  # Σ_{i,k} ΔF_ik^2             (eV/Å)^2
    "forces_norm",  # Σ_i ‖ΔF_i‖                eV/Å
    "num_molecules",
    "num_atoms",
)


class ForceFieldMetrics(Metric):
    """Energy MAE/RMSE (per molecule and per atom) and force MAE/RMSE.

    ``update(energy, forces, target_energy, target_forces, natoms)`` with
    energies (B,) eV, forces (n, 3) eV/Å and atom counts (B,); ``compute()``
    returns a dict of floats in meV and meV/Å (see :data:`METRIC_UNITS`).
    Sums are kept in float64.
    """

    full_state_update = False
    higher_is_better = False

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        for name in _STATES:
            self.add_state(name, default=torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")

    def update(
        self,
        energy: torch.Tensor,
        forces: torch.Tensor,
        target_energy: torch.Tensor,
        target_forces: torch.Tensor,
        natoms: torch.Tensor,
    ) -> None:
        de = (energy.detach() - target_energy.detach()).double()
        df = (forces.detach() - target_forces.detach()).double()
        self.energy_abs += de.abs().sum()
        self.energy_sq += de.pow(2).sum()
        self.energy_per_atom_abs += (de.abs() / natoms.double()).sum()
        self.forces_abs += df.abs().sum()
        self.forces_sq += df.pow(2).sum()
        self.forces_norm += df.norm(dim=-1).sum()
        self.num_molecules += de.numel()
        self.num_atoms += df.shape[0]

    def compute(self) -> dict[str, torch.Tensor]:
        if float(self.num_molecules) == 0:
            raise RuntimeError("no predictions were accumulated; call update() with at least one batch first.")
        n_mol = self.num_molecules
        n_comp = 3 * self.num_atoms
        mev = 1000.0
        return {
            "energy_mae": mev * self.energy_abs / n_mol,
            "energy_rmse": mev * (self.energy_sq / n_mol).sqrt(),
            "energy_per_atom_mae": mev * self.energy_per_atom_abs / n_mol,
            "forces_mae": mev * self.forces_abs / n_comp,
            "forces_rmse": mev * (self.forces_sq / n_comp).sqrt(),
            "forces_norm_mae": mev * self.forces_norm / self.num_atoms,
        }


def errors_of(model, loader, device: str | torch.device = "cpu") -> dict[str, float]:
    """Metrics of ``model`` over every batch of ``loader``, in this process only.

    Conservative forces need gradients, so this must not run under ``torch.inference_mode``.

    Returns
    -------
    dict of floats, meV and meV/Å (see :data:`METRIC_UNITS`).
    """
    metric = ForceFieldMetrics(sync_on_compute=False).to(device)  # this process's loader only
    was_training = model.training
    model.eval()
    try:
        for batch in loader:
            batch = batch.to(device)
            with torch.enable_grad():
                out = model(batch, compute_forces=True)
            metric.update(out["energy"], out["forces"], batch.energy, batch.forces, batch.natoms)
    finally:
        model.train(was_training)
    return {k: float(v) for k, v in metric.compute().items()}
