"""The training loader of a run: the fast :class:`~mireg.data.TensorLoader` over data in memory, or a
:class:`~mireg.data.StreamLoader` over a ``DataLoader`` the caller gives (``train(train_data=...)``), and
the normalisation statistics of given data."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from mireg.config import TrainConfig
from mireg.data import ImageTensors, TensorLoader
from mireg.data.torch_data import StreamLoader
from mireg.train import distributed as D
from mireg.train.speed import Speed

__all__ = ["make_loader", "given_stats"]


def make_loader(config: TrainConfig, ctx: D.DistContext, data: Any, speed: Speed,
                log: Callable[[str], None]) -> TensorLoader | StreamLoader:
    """This process's training batches: a shard of in-memory ``data`` in batches of ``batch_size /
    world_size``, or the given DataLoader streamed (its own batch size, sampler and transforms)."""
    if isinstance(data, ImageTensors):
        loader = TensorLoader(data, batch_size=config.batch_size // ctx.world_size, shuffle=True,
                              augment=config.augment, drop_last=speed.drop_last, device=ctx.device,
                              seed=config.seed, rank=ctx.rank, world_size=ctx.world_size,
                              channels_last=speed.channels_last)
        if not len(loader):
            raise ValueError(f"batch_size={config.batch_size} is larger than the {loader.num_samples} training "
                             "images per process, and drop_last drops that short batch: lower batch_size or set "
                             "drop_last=false")
        return loader
    if ctx.world_size > 1 and not isinstance(data.sampler, torch.utils.data.DistributedSampler):
        raise ValueError("train_data is a DataLoader and the run has several processes: give it a "
                         "torch.utils.data.DistributedSampler, so that each process trains on its own shard")
    log(f"streaming train_data ({type(data.dataset).__name__}, {len(data)} batches of {data.batch_size}: "
        "the DataLoader's batch size, sampler and transforms; batch_size is not used)")
    return StreamLoader(data, ctx.device, augment=config.augment, seed=config.seed,
                        channels_last=speed.channels_last)


def given_stats(config: TrainConfig, data: Any) -> tuple[Any, Any] | None:
    """Mean and std of given training data, for ``normalize=True`` (None when not normalising)."""
    if not config.normalize:
        return None
    if isinstance(data, ImageTensors):
        return data.mean_std()
    raise ValueError("normalize=true needs the mean and std of the training data, which a streamed DataLoader "
                     "does not give: pass train_data as a Dataset (materialised), or put the normalisation in "
                     "the model you pass (model=mireg.models.Normalized(net, mean, std))")
