"""The checkpoint folder: ``config.json`` + ``model.safetensors`` (+ card, references).

A model is fully determined by ``(family, model config)`` and its weights, so a
checkpoint stores exactly that: the config as JSON and the weights as
safetensors. Loading builds the model from the registry and copies the weights
in with ``strict=True``; nothing in the folder is ever unpickled or executed.

Layout of one folder::

    config.json                 format_version, name, family, model config, units, ...
    model.safetensors           the state dict (weights and persistent buffers)
    README.md                   the model card (Hugging Face YAML header + text)
    reference_prediction.json   energy (eV) and forces (eV/Å) of one frame, at save time
    reference.extxyz            optional labelled reference frames (eV, Å, eV/Å)
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch

from ..local_paths import scrub
from .device import dtype_name, resolve_device, resolve_dtype
from .errors import CheckpointError, ChecksumError, FormatVersionError

__all__ = [
    "FORMAT_VERSION",
    "CONFIG_FILE",
    "WEIGHTS_FILE",
    "CARD_FILE",
    "REFERENCE_FILE",
    "PREDICTION_FILE",
    "UNITS",
    "REQUIRED_KEYS",
    "sha256_file",
    "split_name",
    "save_checkpoint",
    "read_config",
    "verify_files",
    "load_checkpoint",
    "is_checkpoint",
]

FORMAT_VERSION = 1
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
CARD_FILE = "README.md"
REFERENCE_FILE = "reference.extxyz"
PREDICTION_FILE = "reference_prediction.json"
UNITS = {"energy": "eV", "length": "Å", "forces": "eV/Å"}
# Keys load() cannot do without; the rest of config.json is documentation.
REQUIRED_KEYS = ("format_version", "family", "model", "units", "dtype", "weights")


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def split_name(name: str) -> tuple[str, str | None]:
    """``"egnn-m.rmd17-aspirin"`` -> ``("egnn-m", "rmd17-aspirin")``; no dot -> (name, None)."""
    variant, _, tag = name.partition(".")
    return variant, (tag or None)


def is_checkpoint(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a folder holding a ``config.json``."""
    return (Path(path) / CONFIG_FILE).is_file()


def _jsonable(obj: Any) -> Any:
    """json.dumps fallback for the values training code tends to hand over."""
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu().tolist()
    if isinstance(obj, torch.dtype):
        return dtype_name(obj)
    if hasattr(obj, "to_dict"):
        return obj.to_dict()
    if hasattr(obj, "tolist"):  # numpy arrays and scalars
        return obj.tolist()
    if isinstance(obj, (set, frozenset)):
        return sorted(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON-serialisable; pass numbers, strings, lists or dicts.")


def write_json(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False, default=_jsonable) + "\n", encoding="utf-8")


def _model_dtype(model: torch.nn.Module) -> torch.dtype:
    for t in list(model.parameters()) + list(model.buffers()):
        if t.is_floating_point():
            return t.dtype
    return torch.get_default_dtype()


def _num_parameters(model: torch.nn.Module) -> int:
    """All parameters, frozen or not (a fine-tune may have frozen some)."""
    return int(sum(p.numel() for p in model.parameters()))


def _check_variant(variant: str, model: torch.nn.Module) -> None:
    """Refuse a name whose variant is a registered one of another family."""
    from ..models import registry

    try:
        registered = registry.get_variant(variant)
    except (KeyError, ModuleNotFoundError):
        return  # a custom variant name is fine
    if registered.family != model.family:
        raise ValueError(
            f"the name says variant {variant!r}, a {registered.family} model, but the model is "
            f"a {model.family} model; pick a name that starts with the model's own variant."
        )


def save_checkpoint(
    model: torch.nn.Module,
    path: str | os.PathLike,
    *,
    name: str | None = None,
    card: Any = None,
    metrics: dict[str, Any] | None = None,
    training: dict[str, Any] | None = None,
    statistics: Any = None,
    reference: Any = None,
) -> Path:
    """Write ``model`` as a checkpoint folder (see the module docstring).

    The folder is assembled in a temporary sibling and moved into place at the
    end, so an interrupted save never leaves a folder that looks complete.
    An existing checkpoint at ``path`` is replaced.

    Parameters
    ----------
    model : ForceField
    path : folder to write (created; its parent must be writable)
    name : "<variant>.<tag>", e.g. "egnn-m.rmd17-aspirin"; defaults to the folder name
    card : dict or :class:`~forcefields.zoo.card.CardInfo`, optional
        Model-card text: description, license, datasets, tags, training_data,
        recipe, reproduce, intended_use, limitations, citation.
    metrics : dict, optional
        Measured test metrics. Numbers are read as meV (keys with "energy") or
        meV/Å (keys with "force"), e.g. ``{"energy_mae": 5.1, "force_mae": 12.3}``;
        string values ``"split"`` (which frames) and ``"command"`` (how to
        reproduce them) go to the card.
    training : dict, optional
        How the model was trained (dataset, split, frames, seed, recipe,
        command, ...); stored in config.json with absolute paths reduced to
        their names (a checkpoint is made to be published, see
        :mod:`forcefields.local_paths`), everything else verbatim.
    statistics : DatasetStatistics or dict, optional
        Training-data statistics; defaults to ``training["statistics"]``.
    reference : ase.Atoms or list of ase.Atoms, optional
        Reference frames (with energies and forces attached, if known) written
        as ``reference.extxyz``; the model's prediction on the first one is
        stored in ``reference_prediction.json``. Without one, a small probe
        frame made from the model's elements serves for that prediction.

    Returns
    -------
    Path of the written folder.
    """
    from .card import CardInfo, render_card
    from .reference import write_reference

    if not hasattr(model, "config") or not hasattr(model, "family"):
        raise TypeError(f"save() needs a forcefields ForceField, got {type(model).__name__}.")
    path = Path(path).expanduser().absolute()
    name = name or path.name
    variant, tag = split_name(name)
    _check_variant(variant, model)
    metrics = dict(metrics or {})
    training = dict(training or {})
    if statistics is None:
        statistics = training.pop("statistics", None)
    if statistics is not None and hasattr(statistics, "to_dict"):
        statistics = statistics.to_dict()
    info = card if isinstance(card, CardInfo) else CardInfo.from_any(card)
    from .. import __version__

    mcfg = model.config.to_dict()
    dtype = _model_dtype(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.partial-", dir=path.parent))
    try:
        _write_weights(model, tmp / WEIGHTS_FILE)
        config = {
            "format_version": FORMAT_VERSION,
            "name": name,
            "variant": variant,
            "tag": tag,
            "family": model.family,
            "model": mcfg,
            "cutoff": float(mcfg.get("cutoff", model.config.cutoff)),
            "elements": [int(z) for z in mcfg.get("elements", [])],
            "atomic_energies": mcfg.get("atomic_energies", {}),
            "units": dict(UNITS),
            "dtype": dtype_name(dtype),
            "force_mode": mcfg.get("force_mode", "conservative"),
            "num_parameters": _num_parameters(model),
            "library_version": __version__,
            "torch_version": torch.__version__.split("+")[0],
            "created": _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat(),
            "statistics": statistics,
            "metrics": metrics,
            "training": training,
            "license": info.license,
            "weights": {
                "file": WEIGHTS_FILE,
                "sha256": sha256_file(tmp / WEIGHTS_FILE),
                "size": (tmp / WEIGHTS_FILE).stat().st_size,
            },
        }
        write_reference(tmp, model, reference)
        # Published as is by `push`: names, hashes and relative paths only (absolute paths -> names).
        config = scrub(config)
        write_json(tmp / CONFIG_FILE, config)
        (tmp / CARD_FILE).write_text(scrub(render_card(config, info)), encoding="utf-8")
        _replace_dir(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


def _write_weights(model: torch.nn.Module, file: Path) -> None:
    from safetensors.torch import save_file

    # clone(): tied or shared tensors would be refused by safetensors; each key
    # gets its own copy and load_state_dict copies them back into place.
    state = {k: v.detach().to("cpu").contiguous().clone() for k, v in model.state_dict().items()}
    from .. import __version__

    save_file(state, str(file), metadata={"format": "pt", "forcefields": __version__})


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _replace_dir(src: Path, dst: Path) -> None:
    """Move a finished folder into place; an old one at ``dst`` is removed only afterwards.

    ``src`` (made by mkdtemp, hence private) gets the modes of a normally created
    folder first, so checkpoints in a shared cache stay readable by others.
    """
    mask = _umask()
    for f in src.iterdir():
        if f.is_file():
            f.chmod(0o666 & ~mask)
    src.chmod(0o777 & ~mask)
    old = None
    if dst.exists():
        if not dst.is_dir():
            raise FileExistsError(f"{dst} exists and is not a folder; choose another path.")
        if any(dst.iterdir()) and not is_checkpoint(dst):
            # never delete a folder of other files in place of a checkpoint
            raise FileExistsError(
                f"{dst} exists and holds files but no checkpoint; choose a new or empty folder."
            )
        old = dst.with_name(f".{dst.name}.old-{os.getpid()}")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(dst, old)
    os.replace(src, dst)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def read_config(folder: str | os.PathLike) -> dict[str, Any]:
    """Read and check ``config.json`` of a checkpoint folder.

    Raises
    ------
    FileNotFoundError : no config.json in the folder
    FormatVersionError : written by a format this version cannot read
    CheckpointError : missing keys, or units other than eV and Å
    """
    folder = Path(folder)
    file = folder / CONFIG_FILE
    if not file.is_file():
        raise FileNotFoundError(
            f"{folder} is not a forcefields checkpoint: it has no {CONFIG_FILE}; "
            "point to a folder written by forcefields.save()."
        )
    try:
        config = json.loads(file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise CheckpointError(f"{file} is not valid JSON ({err}); the checkpoint is damaged, download or save it again.") from None
    if not isinstance(config, dict):
        raise CheckpointError(f"{file} does not hold a JSON object; the checkpoint is damaged, download or save it again.")
    version = config.get("format_version")
    if not isinstance(version, int):
        raise FormatVersionError(
            f"{file} has no integer format_version; it was not written by forcefields.save()."
        )
    if version > FORMAT_VERSION:
        from .. import __version__

        raise FormatVersionError(
            f"{folder.name} uses checkpoint format {version}, newer than format {FORMAT_VERSION} "
            f"that forcefields {__version__} reads; upgrade forcefields (pip install -U forcefields)."
        )
    if version < 1:
        raise FormatVersionError(f"{file} has format_version {version}; valid versions start at 1.")
    missing = [k for k in REQUIRED_KEYS if k not in config]
    if missing:
        raise CheckpointError(
            f"{file} lacks the key(s) {', '.join(missing)}; the checkpoint is incomplete, save or download it again."
        )
    units = config["units"]
    if not isinstance(units, dict) or any(units.get(k) != v for k, v in UNITS.items()):
        raise CheckpointError(
            f"{file} declares units {units}, but forcefields works in {UNITS}; convert the model before loading it."
        )
    if not isinstance(config["model"], dict) or not isinstance(config["weights"], dict):
        raise CheckpointError(f"{file}: 'model' and 'weights' must be JSON objects; the checkpoint is damaged.")
    return config


def verify_files(folder: str | os.PathLike, expected: dict[str, Any], what: str = "the index") -> None:
    """Check files of ``folder`` against ``{file: sha256 or {"sha256", "size"}}``.

    Raises
    ------
    FileNotFoundError : a listed file is missing
    ChecksumError : size or sha256 differs (a truncated or altered file)
    """
    folder = Path(folder)
    for fname, rec in expected.items():
        sha = rec if isinstance(rec, str) else rec.get("sha256")
        size = None if isinstance(rec, str) else rec.get("size")
        file = folder / fname
        if not file.is_file():
            raise FileNotFoundError(
                f"{file} is missing from the checkpoint; download or copy the complete folder again."
            )
        if size is not None and file.stat().st_size != int(size):
            raise ChecksumError(
                f"{file} has {file.stat().st_size} bytes but {what} records {size}: the file is "
                "truncated or altered; delete it and download or copy the checkpoint again."
            )
        if sha and sha256_file(file) != sha:
            raise ChecksumError(
                f"{file} does not match the sha256 recorded in {what}: the file is altered or "
                "damaged; delete it and download or copy the checkpoint again (after an intended "
                "change, rebuild the index with `python -m forcefields.zoo.index DIR`)."
            )


def load_checkpoint(
    folder: str | os.PathLike,
    *,
    device: str | torch.device | None = "cpu",
    dtype: str | torch.dtype | None = None,
    expected_files: dict[str, Any] | None = None,
    expected_what: str = "the index",
) -> torch.nn.Module:
    """Build the model a checkpoint folder describes and load its weights.

    Parameters
    ----------
    folder : checkpoint folder
    device : "cpu" or "cuda"
    dtype : "float32" / "float64"; None keeps the dtype it was saved in
    expected_files : ``{file: sha256}`` to verify first (from the index), optional.
        The weights are always checked against the sha256 in config.json.

    Returns
    -------
    ForceField in eval mode.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from ..models.registry import build_model

    folder = Path(folder)
    dev = resolve_device(device)
    config = read_config(folder)
    target = resolve_dtype(dtype, default=resolve_dtype(config["dtype"]))
    if expected_files:
        verify_files(folder, expected_files, what=expected_what)
    weights = config["weights"]
    wfile = weights.get("file", WEIGHTS_FILE)
    if "/" in wfile or "\\" in wfile or wfile.startswith("."):
        raise CheckpointError(f"{folder / CONFIG_FILE} names weights file {wfile!r}; it must be a plain file name in the folder.")
    verify_files(folder, {wfile: weights}, what=f"{folder / CONFIG_FILE}")

    try:
        with torch.random.fork_rng(devices=[]):  # building draws initial weights; keep the user's RNG
            model = build_model(config["family"], dict(config["model"]), dtype=target, seed=0)
    except KeyError as err:
        msg = err.args[0] if err.args else str(err)
        raise CheckpointError(f"{folder.name}: {msg} Is forcefields up to date?") from None
    except (TypeError, ValueError) as err:
        raise CheckpointError(f"{folder / CONFIG_FILE} holds a model config this version cannot build: {err}") from None
    try:
        state = load_file(str(folder / wfile), device="cpu")
    except (SafetensorError, OSError) as err:
        raise CheckpointError(f"{folder / wfile} is not a readable safetensors file ({err}); download or save it again.") from None
    state = {k: v.to(target) if v.is_floating_point() else v for k, v in state.items()}
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as err:
        raise CheckpointError(
            f"the weights in {folder / wfile} do not fit the {config['family']} model its config "
            f"describes ({str(err).splitlines()[0]}); the folder mixes files of different models."
        ) from None
    return model.to(dev).eval()
