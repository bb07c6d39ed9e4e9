"""Aten calls and CPU time of one eager MD step, ours against NequIP of matched width (issue 14).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/esen_speed/op_counts.py --models esen-l1-s,esen-l2-s,egnn-s
    OMP_NUM_THREADS=1 /path/to/nequip-venv/bin/python benchmarks/esen_speed/op_counts.py --nequip 1,2

One energy + forces call on aspirin (21 atoms, first rMD17 test frame), float32,
one thread, untrained weights. ``aten calls`` counts every operator that reaches
the dispatcher in the call (forward and force backward, views included), with a
``TorchDispatchMode``; ``ms`` is the median CPU time of the timing thread over 40
calls without the counter; ``MFLOP`` the matrix-product FLOPs of the call
(``mm``, ``addmm``, ``bmm``, ``baddbmm``, ``mv``, 2 per multiply-add, read off the
operand shapes by the same dispatch mode; element-wise work is not counted). For NequIP (32 channels, two layers, ``l_max`` as
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

    def __init__(self):
        super().__init__()
        self.counts: collections.Counter = collections.Counter()
        self.flops = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = func.overloadpacket.__name__
        self.counts[name] += 1
        shapes = [tuple(a.shape) for a in args if isinstance(a, torch.Tensor)]
        if name in ("mm", "bmm", "mv"):
            self.flops += _product_flops(shapes[0], shapes[1])
        elif name in ("addmm", "baddbmm", "addmv"):
            self.flops += _product_flops(shapes[1], shapes[2])
        return func(*args, **(kwargs or {}))


def _product_flops(a: tuple, b: tuple) -> int:
    """2 x multiply-adds of a (batched) matrix-matrix or matrix-vector product of operands of shapes ``a``, ``b``."""
    batch = a[0] if len(a) == 3 else 1
    rows, inner = a[-2], a[-1]
    cols = b[-1] if len(b) >= 2 else 1
    return 2 * batch * rows * inner * cols


def measure(call) -> tuple[float, int, float, list]:
    """(median CPU ms over 40 calls, aten calls of one call, its MFLOP, the 5 most frequent ops) of ``call()``."""

    for _ in range(5):
        call()
    cpu = []
    for _ in range(40):
        c0 = time.thread_time()
        call()
        cpu.append(1e3 * (time.thread_time() - c0))
    counter = _OpCounter()
    with counter:
        call()
    return statistics.median(cpu), sum(counter.counts.values()), counter.flops / 1e6, counter.counts.most_common(5)


def ours(names: list[str], atoms) -> None:
    from forcefields.bench.systems import to_batch
    from forcefields.models import create_model

    batch = to_batch([atoms])
    for name in names:
        torch.manual_seed(0)
        model = create_model(name).eval()
        ms, calls, mflop, top = measure(lambda: model(batch))
        print(f"| {name} | {ms:.2f} | {calls:,} | {mflop:.1f} | {', '.join(f'{k} {v}' for k, v in top)} |", flush=True)


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

        ms, calls, mflop, top = measure(call)
        print(f"| nequip-32x{lmax} | {ms:.2f} | {calls:,} | {mflop:.1f} | {', '.join(f'{k} {v}' for k, v in top)} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="esen-l1-s,esen-l2-s,egnn-s,mpnn-s")
    parser.add_argument("--nequip", default="", help="NequIP l_max values to measure instead (comma list)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    from ase import Atoms

    with np.load(ASPIRIN) as d:
        atoms = Atoms(numbers=d["nuclear_charges"].astype(int), positions=d["coords"][0])
    print("| model | ms per MD step | aten calls | MFLOP | most frequent |\n|---|---|---|---|---|")
    if args.nequip:
        nequip([int(l) for l in args.nequip.split(",")], atoms)
    else:
        ours(args.models.split(","), atoms)


if __name__ == "__main__":
    main()
