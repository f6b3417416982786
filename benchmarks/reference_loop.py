"""A plain PyTorch PGD adversarial-training loop, the yardstick of mireg's engine.

Nothing here comes from mireg: a hand-written L-inf PGD, SGD with momentum and weight decay on every
parameter, a per-epoch multistep lr, and the data order of ``mireg.data.TensorLoader`` reproduced
from its documented rule (a permutation drawn from a CPU generator seeded with
``numpy.random.SeedSequence([seed, epoch])``, then one crop offset pair and one flip per example from
the same generator), so that the engine and this loop can be fed the same batches.

Used by ``tests/test_train_parity.py`` (the engine must learn exactly as this loop does) and by
``benchmarks/vs_reference.py`` (speed side by side). Example::

    model = train_plain(model, x_train, y_train, epochs=10, batch_size=64, lr=0.05, eps=0.1,
                        alpha=0.025, steps=7, milestones=[8])
    clean, robust = evaluate(model, x_test, y_test, eps=0.1, alpha=0.025, steps=20)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


def epoch_plan(n: int, seed: int, epoch: int, padding: int = 4):
    """(order, oy, ox, flip) of one epoch: the draws ``TensorLoader(shuffle=True)`` makes, in its order."""
    state = np.random.SeedSequence([seed, epoch]).generate_state(2, dtype=np.uint64)
    g = torch.Generator().manual_seed(int(state[0] >> np.uint64(1)))
    order = torch.randperm(n, generator=g)
    oy = torch.randint(0, 2 * padding + 1, (n,), generator=g)
    ox = torch.randint(0, 2 * padding + 1, (n,), generator=g)
    flip = torch.rand(n, generator=g) < 0.5
    return order, oy, ox, flip


def crop_flip(x: torch.Tensor, oy: torch.Tensor, ox: torch.Tensor, flip: torch.Tensor, padding: int = 4):
    """torchvision's RandomCrop(padding, fill 0) + RandomHorizontalFlip, one image at a time."""
    h, w = x.shape[-2:]
    padded = F.pad(x, (padding, padding, padding, padding))
    out = torch.stack([padded[i, :, oy[i]:oy[i] + h, ox[i]:ox[i] + w] for i in range(len(x))])
    return torch.where(flip.view(-1, 1, 1, 1), out.flip(-1), out)


def pgd_linf(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, alpha: float, steps: int,
             *, backward: bool = False) -> torch.Tensor:
    """Madry et al.'s PGD from a uniform start in the eps-ball, sign steps, projection on the ball and [0, 1].

    ``backward=False`` takes the input gradient with ``torch.autograd.grad`` (as torchattacks does);
    ``backward=True`` calls ``loss.backward()`` as Rice et al. / Bag-of-tricks' ``attack_pgd`` do, which
    also fills the parameters' ``.grad`` (the caller zeroes them before its update).
    """
    x_adv = (x + torch.empty_like(x).uniform_(-eps, eps)).clamp(0, 1).detach()
    for _ in range(steps):
        x_adv.requires_grad_(True)
        loss = F.cross_entropy(model(x_adv), y)
        if backward:
            loss.backward()
            grad = x_adv.grad
        else:
            grad = torch.autograd.grad(loss, x_adv)[0]
        x_adv = x_adv.detach() + alpha * grad.sign()
        x_adv = (x + (x_adv - x).clamp(-eps, eps)).clamp(0, 1).detach()
    return x_adv


def train_plain(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, epochs: int, batch_size: int, lr: float,
                eps: float, alpha: float, steps: int, momentum: float = 0.9, weight_decay: float = 5e-4,
                milestones: Sequence[int] = (), gamma: float = 0.1, seed: int = 0, augment: bool = False,
                padding: int = 4, attack_mode: str = "eval",
                on_epoch: Callable[[int, nn.Module], None] | None = None) -> nn.Module:
    """PGD-AT (Madry et al. 2018): x float (N, C, H, W) in [0, 1], y long (N,); ``on_epoch(epoch, model)``
    after each epoch (1-based). The attack runs with BN in ``attack_mode`` ("eval" or "train")."""
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)
    torch.manual_seed(seed)  # the stream the attacks' seeds are drawn from
    for epoch in range(epochs):
        for group in opt.param_groups:  # lr x gamma from each 1-based milestone epoch on
            group["lr"] = lr * gamma ** sum(epoch + 1 >= m for m in milestones)
        order, oy, ox, flip = epoch_plan(len(y), seed, epoch, padding)
        for start in range(0, len(y), batch_size):
            part = slice(start, start + batch_size)
            xb, yb = x[order[part]], y[order[part]]
            if augment:
                xb = crop_flip(xb, oy[part], ox[part], flip[part], padding)
            model.train(attack_mode == "train")
            # each attack runs from its own seed, one draw of the global CPU generator, in a forked RNG
            # (the rule documented by mireg.TrainingAttack; the global stream advances by that one draw)
            attack_seed = int(torch.randint(0, 2**62, (), dtype=torch.int64))
            with torch.random.fork_rng(devices=[xb.device] if xb.is_cuda else []):
                torch.manual_seed(attack_seed)
                x_adv = pgd_linf(model, xb, yb, eps, alpha, steps)
            model.train()
            loss = F.cross_entropy(model(x_adv), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
        if on_epoch is not None:
            on_epoch(epoch + 1, model)
    return model


# --- the research code's steps, for benchmarks/vs_reference.py: attack (eval-mode BN) + outer loss ---


def _kl_sum(logits_adv: torch.Tensor, logits_target: torch.Tensor) -> torch.Tensor:
    """``nn.KLDivLoss(size_average=False)(log_softmax(adv), softmax(target))`` as trades.py writes it."""
    return F.kl_div(F.log_softmax(logits_adv, dim=1), F.softmax(logits_target, dim=1), reduction="sum")


def _entropy(logits: torch.Tensor) -> torch.Tensor:
    return -(F.softmax(logits, dim=1) * F.log_softmax(logits, dim=1)).sum(dim=1)


def trades_attack(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, alpha: float, steps: int):
    """yaodongyu/TRADES trades.py (l_inf): start x + 0.001 N(0, 1); KL(p(x) || p(x')) with ``model(x_natural)``
    recomputed in every step; ``autograd.grad``; projection with min/max then [0, 1]."""
    x_adv = x.detach() + 0.001 * torch.randn_like(x)
    for _ in range(steps):
        x_adv.requires_grad_()
        grad = torch.autograd.grad(_kl_sum(model(x_adv), model(x)), [x_adv])[0]
        x_adv = x_adv.detach() + alpha * torch.sign(grad.detach())
        x_adv = torch.min(torch.max(x_adv, x - eps), x + eps).clamp(0.0, 1.0)
    return x_adv


def infoat_attack(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, alpha: float, steps: int,
                  lam: float = 2.5):
    """InfoPGD (InfoAT Eq. 18) written in MART's mart.py style (no public InfoAT code exists): start
    x + 0.001 N(0, 1), ``model(x_natural)`` recomputed in every step as trades.py does for its target."""
    x_adv = x.detach() + 0.001 * torch.randn_like(x)
    for _ in range(steps):
        x_adv.requires_grad_()
        logits_nat, logits_adv = model(x), model(x_adv)
        gap = (F.softmax(logits_adv, dim=1) - F.softmax(logits_nat, dim=1)).pow(2).sum(dim=1)
        loss = F.cross_entropy(logits_adv, y) + lam * (_entropy(logits_nat) * gap).mean()
        grad = torch.autograd.grad(loss, [x_adv])[0]
        x_adv = x_adv.detach() + alpha * torch.sign(grad.detach())
        x_adv = torch.min(torch.max(x_adv, x - eps), x + eps).clamp(0.0, 1.0)
    return x_adv


def at_loss(model: nn.Module, x: torch.Tensor, x_adv: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Madry et al.: CE on the adversarial batch."""
    return F.cross_entropy(model(x_adv), y)


def trades_loss(model: nn.Module, x: torch.Tensor, x_adv: torch.Tensor, y: torch.Tensor, beta: float = 6.0):
    """trades.py's outer loss: ``model(x_natural)`` twice (CE, and the KL target), ``model(x_adv)`` once."""
    logits = model(x)
    return F.cross_entropy(logits, y) + beta * _kl_sum(model(x_adv), model(x)) / len(x)


def infoat_loss(model: nn.Module, x: torch.Tensor, x_adv: torch.Tensor, y: torch.Tensor, lam: float = 2.5,
                beta: float = 0.2) -> torch.Tensor:
    """InfoAT Eq. 17: CE(p(x')) + lam H(p(x)) ||p(x') - p(x)||^2 - beta H(p(x')), batch mean."""
    logits_nat, logits_adv = model(x), model(x_adv)
    gap = (F.softmax(logits_adv, dim=1) - F.softmax(logits_nat, dim=1)).pow(2).sum(dim=1)
    extra = lam * _entropy(logits_nat) * gap - beta * _entropy(logits_adv)
    return F.cross_entropy(logits_adv, y) + extra.mean()


def _at_attack(model, x, y, eps, alpha, steps):
    return pgd_linf(model, x, y, eps, alpha, steps, backward=True)  # Rice et al. / Bag of tricks: backward()


#: method -> (the research code's attack, its outer loss)
REFERENCE = {"at": (_at_attack, at_loss), "trades": (trades_attack, trades_loss),
             "infoat": (infoat_attack, infoat_loss)}


def reference_step(method: str, model: nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor,
                   eps: float, alpha: float, steps: int) -> torch.Tensor:
    """One training step as the TRADES / MART code writes it: attack with BN in eval mode, then the update."""
    attack, loss_fn = REFERENCE[method]
    model.eval()
    x_adv = attack(model, x, y, eps, alpha, steps)
    model.train()
    loss = loss_fn(model, x, x_adv, y)
    opt.zero_grad()
    loss.backward()
    opt.step()
    return loss


@torch.no_grad()
def _correct(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> int:
    return int((model(x).argmax(1) == y).sum())


def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, eps: float, alpha: float, steps: int,
             seed: int = 0, batch_size: int = 256) -> tuple[float, float]:
    """(clean, PGD) accuracy in eval mode, fp32; the random starts come from ``seed`` (global RNG untouched)."""
    was_training = model.training
    model.eval()
    clean = robust = 0
    with torch.random.fork_rng(devices=[x.device] if x.is_cuda else []):
        torch.manual_seed(seed)
        for xb, yb in zip(x.split(batch_size), y.split(batch_size), strict=True):
            clean += _correct(model, xb, yb)
            robust += _correct(model, pgd_linf(model, xb, yb, eps, alpha, steps), yb)
    model.train(was_training)
    return clean / len(y), robust / len(y)


def seed_spread(seeds: Sequence[int]) -> dict:
    """Clean / PGD-20 test accuracy of this loop on the digits-at recipe for several seeds (the run-to-run
    spread that sets the tolerance of tests/test_train_parity.py)."""
    from mireg.data import load_dataset, split_validation
    from mireg.models import create_model
    from mireg.train import build_config

    cfg = build_config("digits-at")
    options = {"image_size": cfg.image_size, "channels": cfg.channels}
    train_data, _ = split_validation(load_dataset("digits", split="train", **options), cfg.val_size, seed=cfg.seed)
    test = load_dataset("digits", split="test", **options)
    runs = []
    for seed in seeds:
        torch.manual_seed(seed)
        model = create_model(cfg.model, num_classes=10, in_channels=cfg.channels, **cfg.model_kwargs)
        train_plain(model, train_data.float(), train_data.y, epochs=cfg.epochs, batch_size=cfg.batch_size, lr=cfg.lr,
                    eps=cfg.eps, alpha=cfg.alpha, steps=cfg.steps, momentum=cfg.momentum,
                    weight_decay=cfg.weight_decay, milestones=cfg.lr_milestones, gamma=cfg.lr_gamma, seed=seed)
        clean, robust = evaluate(model, test.float(), test.y, eps=cfg.eps, alpha=cfg.alpha, steps=20, seed=0)
        runs.append({"seed": seed, "clean": clean, "pgd20": robust})
        print(runs[-1], flush=True)
    return {"recipe": "digits-at", "test_images": len(test), "runs": runs,
            **{f"{k}_range": [min(r[k] for r in runs), max(r[k] for r in runs)] for k in ("clean", "pgd20")}}


if __name__ == "__main__":
    import argparse
    import json

    parser = argparse.ArgumentParser(description="Seed-to-seed spread of the plain loop on digits-at.")
    parser.add_argument("--seeds", default="0-7", help="a range like 0-7")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    torch.set_num_threads(1)
    low, high = (int(v) for v in args.seeds.split("-"))
    text = json.dumps({"device": "cpu, 1 thread", **seed_spread(range(low, high + 1))}, indent=2)
    if args.out:
        with open(args.out, "w") as fh:
            fh.write(text + "\n")
    print(text)
