"""ForceField.with_force_mode: the backbone and energy survive a change of force head."""

import pytest
import torch

from forcefields.models import create_model
from forcefields.testing import assert_forces_match_finite_differences, evaluate, make_molecules


@pytest.fixture(scope="module")
def batch():
    return make_molecules(num_molecules=2, atoms=(3, 5), seed=2, dtype=torch.float64)


@pytest.mark.parametrize("name", ["mpnn-xs", "egnn-xs", "esen-l1-xs"])
def test_direct_to_conservative_keeps_the_energy(batch, name):
    direct = create_model(name, force_mode="direct", dtype=torch.float64, seed=0).eval()
    conservative = direct.with_force_mode("conservative").eval()
    assert conservative.conservative and not direct.conservative
    assert conservative.num_parameters() < direct.num_parameters()  # the head is gone
    e_direct, _ = evaluate(direct, batch)
    e_conservative, _ = evaluate(conservative, batch)
    torch.testing.assert_close(e_conservative, e_direct, rtol=0, atol=1e-12)
    assert_forces_match_finite_differences(conservative, batch, max_atoms=2)
    # and back: a fresh direct head on the same backbone
    again = conservative.with_force_mode("direct").eval()
    torch.testing.assert_close(evaluate(again, batch)[0], e_direct, rtol=0, atol=1e-12)


def test_unknown_mode_is_refused():
    with pytest.raises(ValueError, match="conservative"):
        create_model("egnn-xs").with_force_mode("analytic")
