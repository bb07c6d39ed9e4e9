"""Save (``save``) or compare against (``check``) float64 eSEN outputs with fixed weights.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/esen_speed/equivalence.py save  /tmp/esen_ref
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/esen_speed/equivalence.py check /tmp/esen_ref

For each variant: weights from ``torch.manual_seed(0)`` (state_dict saved), cast
to float64, energies and conservative forces on three random molecules one by
one and as one batch, plus the direct-force head of one variant per degree and
parameter gradients of a training loss (energies + forces, create_graph).
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

from forcefields.models import create_model
from forcefields.testing import make_molecules

VARIANTS = [f"esen-l{l}-{s}" for l in range(1, 5) for s in ("xs", "s")] + ["esen-l2-m"]


def outputs(name: str, state: dict | None, force_mode: str = "conservative", parity: bool = True) -> tuple[dict, dict]:
    torch.manual_seed(0)
    model = create_model(name, force_mode=force_mode, parity=parity)
    if state is not None:
        model.load_state_dict(state)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    model = model.double().eval()
    mols = make_molecules(num_molecules=3, atoms=(5, 12), seed=7, dtype=torch.float64)
    out = {}
    batch_out = model(mols, compute_forces=True)
    out["energy"], out["forces"] = batch_out["energy"].detach(), batch_out["forces"].detach()
    for i in range(3):
        one = mols.get_example(i)
        o = model(one, compute_forces=True)
        out[f"energy{i}"], out[f"forces{i}"] = o["energy"].detach(), o["forces"].detach()
    if force_mode == "conservative":
        model.train()
        o = model(mols, compute_forces=True)
        loss = o["energy"].square().sum() + o["forces"].square().sum()
        grads = torch.autograd.grad(loss, [p for p in model.parameters()], allow_unused=True)
        for (pname, _), g in zip(model.named_parameters(), grads):
            if g is not None:
                out[f"grad:{pname}"] = g.detach()
    return out, state


def main() -> None:
    mode, folder = sys.argv[1], Path(sys.argv[2])
    folder.mkdir(parents=True, exist_ok=True)
    worst = 0.0
    cases = [(n, "conservative", True) for n in VARIANTS] + [(f"esen-l{l}-xs", "direct", True) for l in (1, 3)]
    cases += [("esen-l2-xs", "conservative", False), ("esen-l4-xs", "conservative", False)]
    for name, fm, parity in cases:
        path = folder / f"{name}-{fm}{'' if parity else '-noparity'}.pt"
        if mode == "save":
            out, state = outputs(name, None, fm, parity)
            torch.save({"state": state, "out": out}, path)
            print(f"saved {path}")
            continue
        if not path.exists():
            print(f"{path.name}: no reference saved, skipped")
            continue
        ref = torch.load(path)
        out, _ = outputs(name, ref["state"], fm, parity)
        diffs = {}
        for k, v in ref["out"].items():
            scale = max(1.0, float(v.abs().max()))
            diffs[k] = float((out[k] - v).abs().max()) / scale
        e = max(v for k, v in diffs.items() if not k.startswith("grad"))
        g = max((v for k, v in diffs.items() if k.startswith("grad")), default=0.0)
        worst = max(worst, e, g)
        print(f"{name:<11} {fm:<12} {'' if parity else 'parity=False':<12} max |dE|,|dF| (rel. to max(1,|ref|)) {e:.2e}   param grads {g:.2e}")
    if mode == "check":
        print(f"worst {worst:.2e}")
        sys.exit(0 if worst < 1e-9 else 1)


if __name__ == "__main__":
    main()
