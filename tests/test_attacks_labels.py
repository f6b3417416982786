"""Every mireg attack rejects labels outside the model's classes with a clear error, untargeted and targeted."""

from __future__ import annotations

import pytest
import torch

from mireg.attacks import DDN, FWA, CWInf, RayS
from tests._attack_helpers import TinyNet

ATTACKS = {
    "cw-inf": lambda: CWInf(TinyNet(), steps=1),
    "ddn": lambda: DDN(TinyNet(), steps=1),
    "fwa": lambda: FWA(TinyNet(), steps=1),
    "rays": lambda: RayS(TinyNet(), query_limit=5),
}


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_labels_outside_the_model_classes(name):
    atk = ATTACKS[name]()
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 2\]"):
        atk(torch.rand(2, 1, 5, 5), torch.tensor([0, 3]))
    atk.set_mode_targeted_by_label(quiet=True)
    with pytest.raises(ValueError, match="labels must lie in"):
        atk(torch.rand(2, 1, 5, 5), torch.tensor([-1, 0]))
