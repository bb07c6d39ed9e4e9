"""Bad frames: one clear error naming file and frame, or skipped and counted on request."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from forcefields.data import MolecularDataModule
from forcefields.data.errors import DataError
from forcefields.data.readers import read_file
from forcefields.data.validation import check_frames, find_bad_frames

from ._tiny import labelled, rmd17_arrays


def _npz_with(tmp_path, frames, edit):
    arrays = rmd17_arrays(frames)
    edit(arrays)
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    return path


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda a: a["energies"].__setitem__(3, np.nan), r"bad\.npz frame 3: energy is nan"),
        (lambda a: a["forces"].__setitem__((5, 2, 1), np.inf), r"bad\.npz frame 5: force on atom 2 is \[.*inf"),
        (lambda a: a["coords"].__setitem__((4, 0, 0), np.nan), r"bad\.npz frame 4: position of atom 0 is \[\s*nan"),
        (lambda a: a["coords"].__setitem__((6, 8), a["coords"][6, 2] + [0.05, 0.0, 0.0]), r"frame 6: atoms 2 and 8 are 0\.05 Å apart"),
    ],
)
def test_bad_frame_named(tmp_path, ethanol_frames, edit, message):
    path = _npz_with(tmp_path, ethanol_frames[:10], edit)
    with pytest.raises(DataError, match=message + r".*skip_bad_frames=True") as info:
        check_frames(read_file(path))
    assert info.value.path == str(path)
    with pytest.raises(DataError, match=message):  # and through the data module
        MolecularDataModule([str(path)], split={"train": 5, "val": 1, "test": 1}, verbose=False).setup()


def test_skip_bad_frames_reports(tmp_path, ethanol_frames):
    def edit(a):
        a["energies"][[1, 4]] = np.nan
        a["coords"][7, 3] = a["coords"][7, 5]

    path = _npz_with(tmp_path, ethanol_frames[:12], edit)
    assert sorted(find_bad_frames(read_file(path))) == [1, 4, 7]
    dm = MolecularDataModule([str(path)], split={"train": 6, "val": 1, "test": "rest"}, skip_bad_frames=True,
                             verbose=False)
    with pytest.warns(UserWarning, match="skipped 3 of 12 frames"):
        dm.setup()
    assert dm.num_skipped == 3 and dm.skipped == {str(path): 3}
    used = np.concatenate(list(dm.splits[str(path)].values()))
    assert len(used) == 9 and not set(used) & {1, 4, 7}
    assert all(torch.isfinite(b.energy).all() for b in dm.test_dataloader())


def test_more_bad_frames_are_counted_in_the_message(tmp_path):
    from ase.calculators.singlepoint import SinglePointCalculator

    frames = labelled("water", 5)
    for a in frames[2:]:
        e, f = a.get_potential_energy(), a.get_forces()
        a.positions[1] = a.positions[0]
        a.calc = SinglePointCalculator(a, energy=e, forces=f)
    from ._tiny import write_extxyz

    path = write_extxyz(tmp_path / "dup.xyz", frames)
    with pytest.raises(DataError, match=r"dup\.xyz frame 2: atoms 0 and 1 are 0 Å apart .*\(2 more bad frames follow\)"):
        check_frames(read_file(path))
