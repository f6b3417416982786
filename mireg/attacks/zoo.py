"""torchattacks' attacks in the mireg attack registry, under the names recipes and suites use.

Every entry is a factory ``fn(model, **kwargs) -> Attack`` whose keyword arguments are the
torchattacks class's own (defaults as torchattacks has them, unless noted).
"""

from __future__ import annotations

import functools

import torchattacks

from mireg.attacks.infopgd import InfoPGD
from mireg.registry import ATTACKS

ATTACKS.add("fgsm", torchattacks.FGSM)
ATTACKS.add("pgd", torchattacks.PGD)
ATTACKS.add("pgd-l2", torchattacks.PGDL2)
# TRADES' inner maximiser: KL-PGD from x + 0.001 N(0, 1) (Zhang et al. 2019).
ATTACKS.add("tpgd", torchattacks.TPGD)
# MART's inner maximiser: CE-PGD from x + 0.001 N(0, 1) (Wang et al. 2020) = InfoPGD with lam = 0.
ATTACKS.add("mart-pgd", functools.partial(InfoPGD, lam=0.0, random_start="normal"))
ATTACKS.add("apgd-ce", functools.partial(torchattacks.APGD, loss="ce"))
ATTACKS.add("apgd-dlr", functools.partial(torchattacks.APGD, loss="dlr"))
ATTACKS.add("apgd-t", torchattacks.APGDT)
ATTACKS.add("cw-l2", torchattacks.CW)
ATTACKS.add("spsa", torchattacks.SPSA)
# torchattacks' TI-FGSM (3 channels only); "ti-dim" is mireg.attacks.TIDIM (MIAT's update, any channels).
ATTACKS.add("tifgsm", torchattacks.TIFGSM)
ATTACKS.add("square", torchattacks.Square)
ATTACKS.add("fab", torchattacks.FAB)
