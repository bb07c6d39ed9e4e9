"""Aten calls and CPU time of one eager MD step, ours against NequIP of matched width (issue 14).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/esen_speed/op_counts.py --models esen-l1-s,esen-l2-s,egnn-s
    OMP_NUM_THREADS=1 /path/to/nequip-venv/bin/python benchmarks/esen_speed/op_counts.py --nequip 1,2

One energy + forces call on aspirin (21 atoms, first rMD17 test frame), float32,
one thread, untrained weights. ``aten calls`` counts every operator that reaches
the dispatcher in the call (forward and force backward, views included), with a
``TorchDispatchMode``; ``ms`` is the median CPU time of the timing thread over 40
calls without the counter; ``MFLOP`` the matrix-product FLOPs of the call
(``mm``, ``addmm``, ``bmm``, ``baddbmm``, ``mv``, 2 per multiply-add, read off the
operand shapes by the same dispatch mode; element-wise work is not counted).
``on edges`` is the part of those FLOPs in products with a dimension that is a
multiple of the edge count E (292 for aspirin at 5 Å: per-edge work, which grows
with the neighbours of each atom), ``on atoms`` the part of the others with a
dimension that is a multiple of the atom count n (per-atom work). Channel
counts of the models measured here are never multiples of 292 or 21, so the
split is unambiguous for aspirin. For NequIP (32 channels, two layers, ``l_max`` as
given; run with the interpreter of a NequIP install) the call includes building
its graph, as our call includes the neighbour list.
"""

from __future__ import annotations

import argparse
import collections
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils._python_dispatch import TorchDispatchMode

ASPIRIN = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "rmd17" / "rmd17_aspirin_test_01.npz"


class _OpCounter(TorchDispatchMode):
    """Counts the aten operators dispatched inside the ``with`` block, by name, and their matrix-product FLOPs."""

    def __init__(self, num_atoms: int = 0, num_edges: int = 0):
        super().__init__()
        self.counts: collections.Counter = collections.Counter()
        self.flops = 0
        self.num_atoms, self.num_edges = num_atoms, num_edges
        self.where: collections.Counter = collections.Counter()  # FLOPs on "edges", "atoms", "other"

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = func.overloadpacket.__name__
        self.counts[name] += 1
        shapes = [tuple(a.shape) for a in args if isinstance(a, torch.Tensor)]
        operands = shapes[:2] if name in ("mm", "bmm", "mv") else shapes[1:3] if name in ("addmm", "baddbmm", "addmv") else None
        if operands is not None:
            flops = _product_flops(*operands)
            self.flops += flops
            self.where[self._scales_with(operands)] += flops
        return func(*args, **(kwargs or {}))

    def _scales_with(self, operands: list[tuple]) -> str:
        """"edges" if a dimension of the product is a multiple of E, else "atoms" if one is of n, else "other"."""
        def multiple(d: int, of: int) -> bool:
            return of > 0 and d > 0 and d % of == 0

        if any(multiple(d, self.num_edges) for shape in operands for d in shape):
            return "edges"
        if any(multiple(d, self.num_atoms) for shape in operands for d in shape):
            return "atoms"
        return "other"


def _product_flops(a: tuple, b: tuple) -> int:
    """2 x multiply-adds of a (batched) matrix-matrix or matrix-vector product of operands of shapes ``a``, ``b``."""
    batch = a[0] if len(a) == 3 else 1
    rows, inner = a[-2], a[-1]
    cols = b[-1] if len(b) >= 2 else 1
    return 2 * batch * rows * inner * cols


def measure(call, num_atoms: int, num_edges: int) -> tuple[float, int, float, list, dict]:
    """(median CPU ms over 40 calls, aten calls of one call, its MFLOP, the 5 most frequent ops,
    MFLOP on edges / atoms / other) of ``call()`` on a structure of ``num_atoms`` atoms and ``num_edges`` edges."""

    for _ in range(5):
        call()
    cpu = []
    for _ in range(40):
        c0 = time.thread_time()
        call()
        cpu.append(1e3 * (time.thread_time() - c0))
    counter = _OpCounter(num_atoms, num_edges)
    with counter:
        call()
    where = {k: counter.where[k] / 1e6 for k in ("edges", "atoms", "other")}
    return statistics.median(cpu), sum(counter.counts.values()), counter.flops / 1e6, counter.counts.most_common(5), where


def _row(name: str, ms: float, calls: int, mflop: float, top: list, where: dict, num_edges: int) -> str:
    per_edge = 1e3 * where["edges"] / num_edges  # MFLOP -> kFLOP per edge
    return (f"| {name} | {ms:.2f} | {calls:,} | {mflop:.1f} | {where['edges']:.1f} ({per_edge:.0f} kFLOP/edge) | "
            f"{where['atoms']:.1f} | {where['other']:.1f} | {', '.join(f'{k} {v}' for k, v in top)} |")


def ours(names: list[str], atoms) -> None:
    from forcefields.bench.systems import to_batch
    from forcefields.data.neighbors import radius_graph
    from forcefields.models import create_model

    batch = to_batch([atoms])
    for name in names:
        torch.manual_seed(0)
        model = create_model(name).eval()
        num_edges = int(radius_graph(batch.pos, model.cutoff, batch.batch).shape[1])
        ms, calls, mflop, top, where = measure(lambda: model(batch), len(atoms), num_edges)
        print(_row(name, ms, calls, mflop, top, where, num_edges), flush=True)


def nequip(lmaxes: list[int], atoms) -> None:
    from nequip.data import AtomicDataDict
    from nequip.data.ase import from_ase
    from nequip.data.transforms import ChemicalSpeciesToAtomTypeMapper, NeighborListTransform
    from nequip.model import NequIPGNNModel
    from nequip.utils.global_state import set_global_state

    set_global_state()
    types = ["H", "C", "O"]
    transforms = [ChemicalSpeciesToAtomTypeMapper(model_type_names=types, chemical_species_to_atom_type_map={t: t for t in types}),
                  NeighborListTransform(r_max=5.0)]
    for lmax in lmaxes:
        model = NequIPGNNModel(seed=0, model_dtype="float32", type_names=types, r_max=5.0, num_layers=2, l_max=lmax,
                               num_features=32, avg_num_neighbors=10.0).eval()

        def call():
            graph = from_ase(atoms)
            for t in transforms:
                graph = t(graph)
            return model(AtomicDataDict.batched_from_list([graph]))

        num_edges = int(call()[AtomicDataDict.EDGE_INDEX_KEY].shape[1])
        ms, calls, mflop, top, where = measure(call, len(atoms), num_edges)
        print(_row(f"nequip-32x{lmax}", ms, calls, mflop, top, where, num_edges), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="esen-l1-s,esen-l2-s,egnn-s,mpnn-s")
    parser.add_argument("--nequip", default="", help="NequIP l_max values to measure instead (comma list)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    from ase import Atoms

    with np.load(ASPIRIN) as d:
        atoms = Atoms(numbers=d["nuclear_charges"].astype(int), positions=d["coords"][0])
    print("| model | ms per MD step | aten calls | MFLOP | on edges | on atoms | other | most frequent |\n"
          "|---|---|---|---|---|---|---|---|")
    if args.nequip:
        nequip([int(l) for l in args.nequip.split(",")], atoms)
    else:
        ours(args.models.split(","), atoms)


if __name__ == "__main__":
    main()
