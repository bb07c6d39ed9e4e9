"""Time an untrained NequIP on the harness's structures (peer runner, protocol v1).

Run by the peer's own interpreter, which has nequip installed::

    /path/to/nequip-venv/bin/python peer_runner_nequip.py request.json [--serve]
    /path/to/nequip-venv/bin/python peer_runner_nequip.py --check

Standalone on purpose: the standard library, torch, ase, nequip and the
sibling ``peer_common`` only (never forcefields). Request, output, timing and
memory as in ``peer_runner_mace.py``.

The model: ``nequip.model.NequIPGNNModel`` (nequip >= 0.7), untrained
(seeded): ``num_features = channels``, ``l_max = max_L``, ``num_layers =
num_interactions``, cutoff 5 Å, other settings at nequip's defaults. A call
is what nequip's ASE calculator does per step: ``from_ase``, type mapping,
neighbour list (nequip's default backend), batching, energy and forces,
copied to the host.

Exit codes: 0 done, 2 bad request, 3 nequip not importable here.
"""

from __future__ import annotations

import sys

from peer_common import fail, group_structures, read_request, run_points, serve, torch_device, write_output


def _import_error() -> str | None:
    try:  # the peer package first: when it is missing, fail before importing torch
        import nequip  # noqa: F401
        import ase.io  # noqa: F401
        import nequip.model  # noqa: F401
        import torch  # noqa: F401
    except ImportError as err:
        return (
            f"nequip is not importable by {sys.executable} ({err}); "
            f"install it there with `{sys.executable} -m pip install nequip`"
        )
    return None


def main(argv: list[str]) -> int:
    if len(argv) not in (2, 3) or (len(argv) == 3 and argv[2] != "--serve"):
        return fail(2, "usage: peer_runner_nequip.py REQUEST.json [--serve] | --check")
    err = _import_error()
    if err:
        return fail(3, err)
    if argv[1] == "--check":
        return 0
    try:
        request = read_request(argv[1])
    except (OSError, ValueError) as e:
        return fail(2, f"cannot use the request {argv[1]}: {e}")
    import ase
    import ase.io
    import e3nn
    import nequip
    import torch
    from ase.data import chemical_symbols
    from nequip.data import AtomicDataDict
    from nequip.data.ase import from_ase
    from nequip.data.transforms import ChemicalSpeciesToAtomTypeMapper, NeighborListTransform
    from nequip.model import NequIPGNNModel
    from nequip.utils.global_state import set_global_state

    s = request["settings"]
    try:
        device = torch_device(s)
    except ValueError as e:
        return fail(2, str(e))
    dtype_name = s.get("dtype", "float32")
    set_global_state()
    structures = ase.io.read(request["structures"], index=":", format="extxyz")
    by_point = group_structures(structures)
    types = [chemical_symbols[z] for z in sorted({int(z) for a in structures for z in a.numbers})]

    def build(cfg):
        channels = int(cfg.get("channels", 64))
        max_l = int(cfg.get("max_L", 1))
        model = NequIPGNNModel(
            seed=int(s.get("seed", 0)),
            model_dtype=dtype_name,
            type_names=types,
            r_max=float(cfg.get("cutoff", 5.0)),
            num_layers=int(cfg.get("num_interactions", 2)),
            l_max=max_l,
            num_features=channels,
            avg_num_neighbors=float(cfg.get("avg_num_neighbors", 10.0)),
        )
        model = model.to(device).eval()
        params = int(sum(p.numel() for p in model.parameters()))
        return model, f"nequip-{channels}x{max_l}", "nequip", params, dict(cfg)

    def make_call(model, atoms_list, cfg):
        transforms = [
            ChemicalSpeciesToAtomTypeMapper(model_type_names=types, chemical_species_to_atom_type_map={t: t for t in types}),
            NeighborListTransform(r_max=float(cfg.get("cutoff", 5.0))),
        ]

        def call():
            graphs = []
            for a in atoms_list:
                d = from_ase(a)
                for t in transforms:
                    d = t(d)
                graphs.append(d)
            batch = AtomicDataDict.to_(AtomicDataDict.batched_from_list(graphs), device)
            out = model(batch)
            return out[AtomicDataDict.TOTAL_ENERGY_KEY].detach().cpu(), out[AtomicDataDict.FORCE_KEY].detach().cpu()

        return call

    version = getattr(nequip, "__version__", None)
    peer = {
        "name": "nequip",
        "package": "nequip",
        "package_version": version,
        "python": sys.executable,
        "versions": {"python": sys.version.split()[0], "torch": torch.__version__, "e3nn": e3nn.__version__,
                     "nequip": version, "ase": ase.__version__},
        "torch_num_threads": torch.get_num_threads(),
    }
    if len(argv) == 3:
        return serve(request, by_point, build, make_call, device, peer)
    write_output(request, peer, run_points(request, by_point, build, make_call, device))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
