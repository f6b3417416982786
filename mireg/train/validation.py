"""Validation during training: clean and PGD accuracy on the held-out split (model selection)."""

from __future__ import annotations

import torch
from torch import nn

from mireg.attacks import create_attack
from mireg.config import TrainConfig
from mireg.data import ImageTensors, TensorLoader
from mireg.train import distributed as D
from mireg.utils.modes import preserved_modes
from mireg.utils.seeding import seeded

__all__ = ["evaluate_accuracy"]


def evaluate_accuracy(model: nn.Module, data: ImageTensors, config: TrainConfig, ctx: D.DistContext,
                      batch_size: int = 256) -> tuple[float, float]:
    """(clean accuracy, PGD accuracy) of ``model`` on ``data`` (this rank's shard, summed over ranks).

    PGD: L-inf, eps = ``config.eps``, ``config.val_steps`` steps of ``config.validation_alpha``,
    uniform random start drawn from a fixed seed (the same starts every epoch, without touching the
    training RNG stream), fp32, model in eval mode (each module's own mode restored afterwards).

    Args:
        model: the model.
        data: the validation split.
        config: the run's config (``eps``, ``val_steps``, ``validation_alpha``, ``seed``).
        ctx: the process's ``DistContext`` (rank, world size, device).
        batch_size: images per batch.

    Returns:
        ``(clean accuracy, PGD accuracy)``.

    Examples:
        >>> import torch
        >>> from mireg.config import TrainConfig
        >>> from mireg.data import ImageTensors
        >>> from mireg.train import evaluate_accuracy
        >>> from mireg.train.distributed import DistContext
        >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 2))
        >>> data = ImageTensors(torch.zeros(8, 1, 4, 4, dtype=torch.uint8), torch.zeros(8, dtype=torch.long))
        >>> ctx = DistContext(device=torch.device("cpu"))  # one process
        >>> clean, robust = evaluate_accuracy(model, data, TrainConfig(val_steps=2), ctx)
        >>> 0.0 <= robust <= clean <= 1.0
        True
    """
    shard = data[ctx.rank::ctx.world_size]  # exact shards (no padding): every example counted once
    attack = None
    if config.val_steps > 0 and config.eps > 0:
        attack = create_attack("pgd", model, eps=config.eps, alpha=config.validation_alpha, steps=config.val_steps)
    clean, robust, seen = (torch.zeros((), dtype=torch.float64, device=ctx.device) for _ in range(3))
    with preserved_modes(model, training=False), seeded(config.seed, ctx.device):
        batches = TensorLoader(shard, batch_size=batch_size, shuffle=False, device=ctx.device) if len(shard) else []
        for x, y in batches:
            with torch.no_grad():
                clean += (model(x).argmax(1) == y).sum()
            if attack is not None:
                x_adv = attack(x, y)
                with torch.no_grad():
                    robust += (model(x_adv).argmax(1) == y).sum()
            seen += y.numel()
    counts = D.all_reduce_sum(torch.stack([clean, robust, seen]), ctx)
    n_clean, n_robust, n = counts.tolist()
    return n_clean / n, (n_robust / n if attack is not None else float("nan"))
