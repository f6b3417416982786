"""Models whose forward returns more than the logits, made usable by mireg.

mireg's attacks, losses, training and evaluation call ``model(x)`` and need the logits tensor
(N, K) alone (``docs/design.md``, Conventions). A model that returns ``(logits, features)``, a list
or a dict is refused everywhere with one message that names :class:`LogitsOnly`, which keeps one
item of the output.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["LogitsOnly"]


class LogitsOnly(nn.Module):
    """``LogitsOnly(model, index)(x) == model(x)[index]``: the logits of a model that returns more.

    Args:
        model: any module whose forward returns a tuple, a list or a dict (or a tensor, passed through).
        index: the position (tuple, list) or key (dict) of the logits in the output. Default 0.

    The wrapped module is ``.model``; its state_dict keys gain the prefix ``model.``.

    Shape:
        x: whatever ``model`` takes, e.g. (N, C, H, W) in [0, 1]; output: the logits (N, K).

    Examples:
        >>> import torch
        >>> from mireg.models import LogitsOnly
        >>> class TwoHeads(torch.nn.Module):  # forward returns (logits, features)
        ...     def forward(self, x):
        ...         return x.flatten(1)[:, :10], x.flatten(1)
        >>> model = LogitsOnly(TwoHeads())
        >>> model(torch.rand(2, 3, 8, 8)).shape
        torch.Size([2, 10])
    """

    def __init__(self, model: nn.Module, index: int | str = 0) -> None:
        super().__init__()
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        if isinstance(index, bool) or not isinstance(index, (int, str)):
            raise TypeError(f"index must be an int (tuple/list position) or a str (dict key), got {index!r}")
        self.model = model
        self.index = index

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.model(x)
        if isinstance(out, torch.Tensor):
            return out
        try:
            return out[self.index]
        except (IndexError, KeyError, TypeError):
            raise ValueError(f"LogitsOnly: index={self.index!r}, but the model's output ({type(out).__name__}) has "
                             f"no item {self.index!r}; give the index of the logits") from None

    def extra_repr(self) -> str:
        return f"index={self.index!r}"
