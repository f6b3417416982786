"""Loss terms as thin ``nn.Module``s over :mod:`mireg.functional`; one file per paper method.

All share the call ``term(logits_nat, logits_adv, y=None, *, x=None, x_adv=None)`` and compose
with ``+`` and ``*`` (see :mod:`mireg.losses.base`).
"""

from mireg.losses.base import LossTerm, ScaledLoss, SumLoss

__all__ = ["LossTerm", "ScaledLoss", "SumLoss"]
