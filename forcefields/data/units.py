"""Unit conventions a source may declare; readers convert to eV and Å on the way in."""

from __future__ import annotations

from ase import units as _u

from .errors import DataError

__all__ = ["ENERGY_UNITS", "LENGTH_UNITS", "energy_factor", "length_factor", "forces_factor"]

# factor that multiplies a value in the named unit to give eV
ENERGY_UNITS: dict[str, float] = {
    "eV": 1.0,
    "meV": 1e-3,
    "kcal/mol": _u.kcal / _u.mol,
    "kJ/mol": _u.kJ / _u.mol,
    "hartree": _u.Hartree,
    "Ry": _u.Rydberg,
}
# factor that multiplies a value in the named unit to give Å
LENGTH_UNITS: dict[str, float] = {"Å": 1.0, "bohr": _u.Bohr, "nm": 10.0}

_ALIASES = {
    "ev": "eV",
    "mev": "meV",
    "kcal/mol": "kcal/mol",
    "kcal mol-1": "kcal/mol",
    "kj/mol": "kJ/mol",
    "hartree": "hartree",
    "ha": "hartree",
    "eh": "hartree",
    "ry": "Ry",
    "rydberg": "Ry",
    "å": "Å",
    "a": "Å",
    "ang": "Å",
    "angstrom": "Å",
    "bohr": "bohr",
    "nm": "nm",
}


def _canonical(name: str, table: dict[str, float], what: str) -> str:
    key = _ALIASES.get(str(name).strip().lower())
    if key is None or key not in table:
        raise DataError(
            f"unknown {what} unit {name!r}; use one of {', '.join(table)}."
        )
    return key


def energy_factor(unit: str) -> float:
    """eV per ``unit`` (e.g. 0.0433641 for ``"kcal/mol"``)."""
    return ENERGY_UNITS[_canonical(unit, ENERGY_UNITS, "energy")]


def length_factor(unit: str) -> float:
    """Å per ``unit`` (e.g. 0.529177 for ``"bohr"``)."""
    return LENGTH_UNITS[_canonical(unit, LENGTH_UNITS, "length")]


def forces_factor(unit: str) -> float:
    """(eV/Å) per ``unit``, where ``unit`` reads ``"<energy>/<length>"``, e.g. ``"hartree/bohr"``."""
    energy, sep, length = str(unit).strip().rpartition("/")
    if not sep or not energy:
        raise DataError(
            f"forces unit {unit!r} must read '<energy>/<length>', e.g. 'kcal/mol/Å' or 'hartree/bohr'."
        )
    return energy_factor(energy) / length_factor(length)


def canonical_energy_unit(unit: str) -> str:
    return _canonical(unit, ENERGY_UNITS, "energy")


def canonical_length_unit(unit: str) -> str:
    return _canonical(unit, LENGTH_UNITS, "length")
