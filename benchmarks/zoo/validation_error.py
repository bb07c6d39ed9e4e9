"""Force and energy error of saved models on the validation part of their training split.

    python benchmarks/zoo/validation_error.py gemnet-xs.rmd17-aspirin runs/sweep-gemnet/gemnet-s-bs4-lr5e-3/model \
        --root ../shared/data/rmd17

Choosing between models (sizes, rates) must read validation frames, not the
test frames that are reported; a shipped checkpoint records its data and
split, but not always its validation error. This rebuilds the split from the
checkpoint's ``config.json`` and evaluates every validation frame (EMA weights,
as shipped). Prints one line per model: frames, energy MAE (meV), force MAE (meV/Å).
"""

from __future__ import annotations

import argparse

import torch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+", help="pretrained names or checkpoint folders")
    parser.add_argument("--root", required=True, help="folder holding the datasets")
    args = parser.parse_args()

    from forcefields import MolecularDataModule
    from forcefields.bench.accuracy import _training_data, evaluate
    from forcefields.zoo import load, pretrained_info

    for name in args.models:
        info = pretrained_info(name)
        sources, split = _training_data(info.config or {})
        model = load(name, dtype="float32")
        dm = MolecularDataModule(sources=sources, root=args.root, split=split, batch_size=16,
                                 cutoff=float(model.cutoff), dtype="float32")
        dm.prepare_data()
        dm.setup("fit")
        errors = evaluate(model, dm.val_dataloader(), torch.device("cpu"))
        print(f"{name}: {errors['n_frames']} validation frames of {split}, energy MAE {errors['energy_mae_mev']:.1f} meV, "
              f"force MAE {errors['force_mae_mev_a']:.1f} meV/Å")


if __name__ == "__main__":
    main()
