"""Time an untrained MACE on the harness's structures (peer runner, protocol v1).

Run by the peer's own interpreter, which has mace-torch (and its pinned e3nn)
installed::

    /path/to/mace-venv/bin/python peer_runner_mace.py request.json [--serve]
    /path/to/mace-venv/bin/python peer_runner_mace.py --check

Standalone on purpose: the standard library, torch, ase, mace and the sibling
``peer_common`` only; it never imports forcefields, whose dependencies may
clash with the peer's. The request and output are described in
``forcefields/bench/peers.py``; timing and memory follow the harness's
protocol (``peer_common``).

The model: ``mace.modules.ScaleShiftMACE``, untrained (seeded), with hidden
irreps ``C x 0e + C x 1o (+ C x 2e ...)`` up to ``max_L``, ``num_interactions``
interaction blocks (RealAgnosticInteractionBlock first, then the residual
one, as MACE's own training script builds them), correlation order 3,
spherical harmonics up to ``max_ell`` 3, 8 Bessel functions, polynomial
cutoff p=5, radial MLP [64, 64, 64], readout MLP 16x0e, cutoff 5 Å. A call is
what MACE's ASE calculator does per step: neighbour list and graph
(``AtomicData.from_config``), collation, energy and forces, copied to the host.

Exit codes: 0 done, 2 bad request, 3 mace-torch not importable here.
"""

from __future__ import annotations

import sys

from peer_common import fail, group_structures, read_request, run_points, serve, torch_device, write_output


def _import_error() -> str | None:
    try:  # the peer package first: when it is missing, fail before importing torch
        import mace  # noqa: F401
        import ase.io  # noqa: F401
        import e3nn  # noqa: F401
        import mace.modules  # noqa: F401
        import torch  # noqa: F401
    except ImportError as err:
        return (
            f"mace-torch is not importable by {sys.executable} ({err}); "
            f"install it there with `{sys.executable} -m pip install mace-torch`"
        )
    return None


def _builder(elements, dtype, seed, device):
    import numpy as np
    import torch
    from e3nn import o3
    from mace import modules

    def build(cfg):
        channels = int(cfg.get("channels", 64))
        max_l = int(cfg.get("max_L", 1))
        hidden = " + ".join(f"{channels}x{l}{'e' if l % 2 == 0 else 'o'}" for l in range(max_l + 1))
        old = torch.get_default_dtype()
        torch.set_default_dtype(dtype)
        try:
            torch.manual_seed(seed)
            model = modules.ScaleShiftMACE(
                r_max=float(cfg.get("cutoff", 5.0)),
                num_bessel=int(cfg.get("num_bessel", 8)),
                num_polynomial_cutoff=int(cfg.get("num_polynomial_cutoff", 5)),
                max_ell=int(cfg.get("max_ell", 3)),
                interaction_cls=modules.interaction_classes["RealAgnosticResidualInteractionBlock"],
                interaction_cls_first=modules.interaction_classes["RealAgnosticInteractionBlock"],
                num_interactions=int(cfg.get("num_interactions", 2)),
                num_elements=len(elements),
                hidden_irreps=o3.Irreps(hidden),
                MLP_irreps=o3.Irreps("16x0e"),
                atomic_energies=np.zeros(len(elements)),
                avg_num_neighbors=float(cfg.get("avg_num_neighbors", 10.0)),
                atomic_numbers=list(elements),
                correlation=int(cfg.get("correlation", 3)),
                gate=torch.nn.functional.silu,
                radial_MLP=[64, 64, 64],
                atomic_inter_scale=1.0,
                atomic_inter_shift=0.0,
            )
        finally:
            torch.set_default_dtype(old)
        model = model.to(device=device, dtype=dtype).eval()
        params = int(sum(p.numel() for p in model.parameters()))
        return model, f"mace-{channels}x{max_l}", "mace", params, dict(cfg, hidden_irreps=hidden)

    return build


def _caller(z_table, dtype, device):
    import torch
    from mace import data as mace_data
    from mace.tools import torch_geometric

    def make_call(model, atoms_list, cfg):
        cutoff = float(cfg.get("cutoff", 5.0))

        def call():
            graphs = [
                mace_data.AtomicData.from_config(mace_data.config_from_atoms(a), z_table=z_table, cutoff=cutoff)
                for a in atoms_list
            ]
            d = torch_geometric.Batch.from_data_list(graphs).to(device).to_dict()
            for key, value in d.items():
                if torch.is_tensor(value) and torch.is_floating_point(value):
                    d[key] = value.to(dtype)
            out = model(d, compute_force=True)
            return out["energy"].detach().cpu(), out["forces"].detach().cpu()

        return call

    return make_call


def main(argv: list[str]) -> int:
    if len(argv) not in (2, 3) or (len(argv) == 3 and argv[2] != "--serve"):
        return fail(2, "usage: peer_runner_mace.py REQUEST.json [--serve] | --check")
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
    import mace
    import torch
    from mace.tools import utils

    s = request["settings"]
    try:
        device = torch_device(s)
    except ValueError as e:
        return fail(2, str(e))
    dtype = {"float32": torch.float32, "float64": torch.float64}[s.get("dtype", "float32")]
    structures = ase.io.read(request["structures"], index=":", format="extxyz")
    by_point = group_structures(structures)
    elements = sorted({int(z) for a in structures for z in a.numbers})
    build = _builder(elements, dtype, int(s.get("seed", 0)), device)
    make_call = _caller(utils.AtomicNumberTable(elements), dtype, device)
    version = getattr(mace, "__version__", None)
    peer = {
        "name": "mace",
        "package": "mace-torch",
        "package_version": version,
        "python": sys.executable,
        "versions": {"python": sys.version.split()[0], "torch": torch.__version__, "e3nn": e3nn.__version__,
                     "mace-torch": version, "ase": ase.__version__},
        "torch_num_threads": torch.get_num_threads(),
    }
    if len(argv) == 3:
        return serve(request, by_point, build, make_call, device, peer)
    write_output(request, peer, run_points(request, by_point, build, make_call, device))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
