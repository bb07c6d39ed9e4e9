"""Labels (energy, forces) for geometries: GFN2-xTB / GFN1-xTB through tblite, or any ASE calculator.

    make_labeler("GFN2-xTB")                                  # tblite, one thread
    make_labeler("ase.calculators.emt.EMT")                   # any ASE calculator by import path
    make_labeler("mypackage.dft:MyCalc", {"xc": "PBE"})       # with keyword arguments

Energies come back in eV, forces in eV/Å. A calculation that fails (an SCF
that does not converge, say) raises :class:`GenerationFailure` ``scf``.
"""

from __future__ import annotations

import importlib
import importlib.metadata
from typing import Any

import numpy as np

from .failures import GenerationFailure
from .rdkit_import import require_tblite

__all__ = ["Labeler", "TBLiteLabeler", "ASELabeler", "make_labeler", "TBLITE_METHODS"]

HARTREE_EV = 27.211386245988
BOHR_ANGSTROM = 0.529177210903
TBLITE_METHODS = {"gfn2-xtb": "GFN2-xTB", "gfn1-xtb": "GFN1-xTB", "ipea1-xtb": "IPEA1-xTB"}


class Labeler:
    """Something that labels a geometry; subclasses implement :meth:`label` and :meth:`ase_calculator`."""

    method: str = ""

    def label(self, numbers: np.ndarray, positions: np.ndarray, charge: int = 0) -> tuple[float, np.ndarray]:
        """Energy (eV) and forces ((n, 3) eV/Å) of one geometry (Å)."""
        raise NotImplementedError

    def ase_calculator(self, charge: int = 0):
        """An ASE calculator computing the same labels (for MD sampling)."""
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        """Method, settings and package versions, for the manifest."""
        raise NotImplementedError


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


class TBLiteLabeler(Labeler):
    """GFN-xTB through tblite's Python interface.

    Parameters
    ----------
    method : "GFN2-xTB", "GFN1-xTB" or "IPEA1-xTB"
    accuracy : tblite's numerical accuracy (1.0 default; lower is tighter)
    electronic_temperature : K, Fermi smearing (tblite default 300)
    max_iterations : SCF iterations before giving up
    """

    def __init__(self, method: str = "GFN2-xTB", accuracy: float = 1.0,
                 electronic_temperature: float = 300.0, max_iterations: int = 250):
        self._interface = require_tblite()
        self.method = TBLITE_METHODS[method.lower()]
        self.settings = {
            "accuracy": float(accuracy),
            "electronic_temperature": float(electronic_temperature),
            "max_iterations": int(max_iterations),
        }

    def label(self, numbers, positions, charge=0):
        numbers = np.asarray(numbers, dtype=np.int64)
        calc = self._interface.Calculator(self.method, numbers, np.asarray(positions, dtype=np.float64) / BOHR_ANGSTROM,
                                          charge=float(charge))
        calc.set("verbosity", 0)
        calc.set("accuracy", self.settings["accuracy"])
        calc.set("temperature", self.settings["electronic_temperature"] * 3.166808578545117e-06)  # K -> hartree
        calc.set("max-iter", self.settings["max_iterations"])
        try:
            result = calc.singlepoint()
            energy = float(result.get("energy")) * HARTREE_EV
            forces = -np.asarray(result.get("gradient"), dtype=np.float64) * (HARTREE_EV / BOHR_ANGSTROM)
        except Exception as err:  # tblite raises its own runtime error for SCF trouble
            raise GenerationFailure("scf", f"{self.method}: {str(err).strip().splitlines()[0] if str(err) else err!r}")
        if not np.isfinite(energy) or not np.all(np.isfinite(forces)):
            raise GenerationFailure("scf", f"{self.method} returned NaN")
        return energy, forces

    def ase_calculator(self, charge=0):
        from tblite.ase import TBLite

        return TBLite(method=self.method, charge=float(charge), verbosity=0,
                      accuracy=self.settings["accuracy"],
                      electronic_temperature=self.settings["electronic_temperature"],
                      max_iterations=self.settings["max_iterations"])

    def describe(self):
        return {"method": self.method, "backend": "tblite", "settings": dict(self.settings),
                "versions": {"tblite": _version("tblite")}, "units": {"energy": "eV", "forces": "eV/Å"}}


class ASELabeler(Labeler):
    """Any ASE calculator, named by its import path (``package.module.Class`` or ``package.module:Class``).

    Parameters
    ----------
    path : import path of the calculator class (or of a function returning one)
    options : keyword arguments for it (JSON-serialisable: they go into the manifest)
    """

    def __init__(self, path: str, options: dict[str, Any] | None = None):
        module_name, sep, attr = path.partition(":")
        if not sep:
            module_name, _, attr = path.rpartition(".")
        if not module_name or not attr:
            raise ValueError(f"--method {path!r} is neither GFN2-xTB/GFN1-xTB nor an import path such as "
                             "'ase.calculators.emt.EMT'; give one of those.")
        try:
            module = importlib.import_module(module_name)
            self._factory = getattr(module, attr)
        except (ImportError, AttributeError) as err:
            raise ValueError(f"cannot import the calculator {path!r} ({err}); check the import path and that its "
                             "package is installed.") from err
        self.method = path
        self.options = dict(options or {})
        self._calc = None

    def ase_calculator(self, charge=0):
        return self._factory(**self.options)

    def label(self, numbers, positions, charge=0):
        from ase import Atoms

        if self._calc is None:
            self._calc = self.ase_calculator(charge)
        atoms = Atoms(numbers=np.asarray(numbers), positions=np.asarray(positions, dtype=np.float64))
        atoms.info["charge"] = charge
        atoms.calc = self._calc
        try:
            energy = float(atoms.get_potential_energy())
            forces = np.asarray(atoms.get_forces(), dtype=np.float64)
        except Exception as err:
            raise GenerationFailure("scf", f"{self.method}: {err}")
        if not np.isfinite(energy) or not np.all(np.isfinite(forces)):
            raise GenerationFailure("scf", f"{self.method} returned NaN")
        return energy, forces

    def describe(self):
        top = self.method.split(".")[0].split(":")[0]
        return {"method": self.method, "backend": "ase", "settings": dict(self.options),
                "versions": {top: _version(top), "ase": _version("ase")}, "units": {"energy": "eV", "forces": "eV/Å"}}


def make_labeler(method: str, options: dict[str, Any] | None = None) -> Labeler:
    """A labeler from a method name (GFN2-xTB, GFN1-xTB, IPEA1-xTB) or an ASE calculator's import path."""
    if method.lower() in TBLITE_METHODS:
        return TBLiteLabeler(TBLITE_METHODS[method.lower()], **(options or {}))
    return ASELabeler(method, options)
