"""Training NAMID's natural and adversarial MI estimators (Zhou et al., ICML 2022, Sec. 3.2.2, Eq. 4-6).

On a pre-trained classifier h0 that stays frozen, the samples of Eq. 6 (correct on x, wrong on
x_adv, argmax over classes) train

- Eq. 5 (``objective="eq5"``, default): E_n to maximise E_n(x, h0(x)) - max(0, E_n(x, h0(x_adv))) and
  E_a to maximise E_a(n, h0(x_adv)) - max(0, E_a(n, h0(x))), with n = x_adv - x;
- ``objective="eq5-literal"``: the same without the clamp at 0, exactly as Eq. 5 is printed;
- Eq. 4 (``objective="mim"``): E_n to maximise E_n(x, h0(x)) and E_a to maximise E_a(n, h0(x_adv)).

Why the clamp: a DV score can be driven to -inf on the pairs it should score low, so the literal
difference is unbounded and the scores stop being MI estimates (on digits, 10 epochs: the gap grows
to ~170 nats and E_n(x, h0(x)) to about -90 nats). The true MI is >= 0, so pushing the subtracted
estimate below 0 carries no information; with the clamp the gap stays a few nats and the held-out
check of Fig. 4 passes (86% / 91% of the selected samples on the same run).

Since h0 is frozen, its outputs and the adversarial examples are computed once before training
(the released code recomputes them per batch under random crop/flip augmentation; we do not augment).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn
from tqdm.auto import tqdm

from mireg._validation import check_choice, check_eps, check_fractions, check_images, check_labels, check_number
from mireg.estimators.local_dim import LocalDIMEstimator
from mireg.estimators.scoring import EstimatorCheck, check_estimators, global_inputs, run_attack
from mireg.estimators.tap import check_layer
from mireg.functional.mi import namid_selection
from mireg.utils.device import model_device
from mireg.utils.modes import preserved_modes
from mireg.utils.seeding import seeded

__all__ = ["EstimatorTrainingResult", "default_attack", "train_estimators"]

Attack = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def default_attack(model: nn.Module, eps: float = 8 / 255, alpha: float = 2 / 255, steps: int = 20) -> Attack:
    """The default attack of :func:`train_estimators`: torchattacks' L-inf PGD with a random start,
    eps 8/255, step 2/255, 20 steps, on the frozen model in eval mode (the released
    ``train_MI_estimator_only_max.py`` uses L-inf PGD-20 at eps 0.031).

    Args:
        model: the frozen classifier.
        eps: the L-inf radius.
        alpha: the step size.
        steps: the PGD steps.

    Returns:
        A torchattacks ``PGD``.

    Examples:
        >>> import torch
        >>> from mireg.estimators import default_attack
        >>> atk = default_attack(torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 10)), steps=2)
        >>> type(atk).__name__, atk.steps
        ('PGD', 2)
    """
    import torchattacks

    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    check_eps("eps", eps)
    check_number("alpha", alpha, low=0.0, low_open=True)
    check_number("steps", steps, low=1, integer=True)
    return torchattacks.PGD(model, eps=eps, alpha=alpha, steps=steps, random_start=True)


@dataclass
class EstimatorTrainingResult:
    """What :func:`train_estimators` returns.

    ``natural``/``adversarial``: the trained estimators E_n, E_a (eval mode); ``history``: one dict per
    epoch (mean losses, mean MI gaps on the selection, #selected samples, #skipped batches);
    ``check``: the held-out Fig. 4 check (None without validation data); ``metadata``: plain-type
    settings, ready for :func:`mireg.estimators.save_estimators`.

    Attributes:
        natural: E_n.
        adversarial: E_a.
        history: one dict per epoch.
        check: an :class:`~mireg.estimators.EstimatorCheck`, or None.
        metadata: plain-type settings.

    Examples:
        >>> import torch
        >>> from torch import nn
        >>> model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 10)).eval()
        >>> x, y = torch.rand(16, 3, 8, 8), torch.randint(0, 10, (16,))
        >>> from mireg.estimators import train_estimators
        >>> res = train_estimators(model, x, y, epochs=1, batch_size=8, width=8, progress=False)
        >>> type(res).__name__, len(res.history), res.check
        ('EstimatorTrainingResult', 1, None)
    """

    natural: LocalDIMEstimator
    adversarial: LocalDIMEstimator
    history: list[dict[str, float]] = field(default_factory=list)
    check: EstimatorCheck | None = None
    metadata: dict[str, object] = field(default_factory=dict)


def _objective(objective: str, sel: torch.Tensor, en_nat, en_adv, ea_adv, ea_nat) -> tuple[torch.Tensor, ...]:
    if objective == "eq5":  # the subtracted MI estimate is clamped at 0 (MI >= 0), see the module docstring
        return (-(en_nat - en_adv.clamp(min=0))[sel].mean(),
                -(ea_adv - ea_nat.clamp(min=0))[sel].mean())
    if objective == "eq5-literal":
        return -(en_nat - en_adv)[sel].mean(), -(ea_adv - ea_nat)[sel].mean()
    return -en_nat[sel].mean(), -ea_adv[sel].mean()


def train_estimators(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, attack: Attack | None = None,
                     epochs: int = 25, batch_size: int = 400, lr: float = 1e-2, objective: str = "eq5",
                     x_val: torch.Tensor | None = None, y_val: torch.Tensor | None = None,
                     device: torch.device | str | None = None, progress: bool = True, seed: int = 0,
                     width: int = 2048, layer: str | None = None, milestones: tuple[float, ...] = (0.4, 0.8),
                     x_adv: torch.Tensor | None = None, x_val_adv: torch.Tensor | None = None
                     ) -> EstimatorTrainingResult:
    """Train NAMID's estimators E_n and E_a on a frozen classifier (NAMID Eq. 4-6).

    Args:
        model: the pre-trained classifier h0 (logits-only forward); put in eval mode, never updated,
            restored to its mode afterwards.
        x: training images in [0, 1] (N, C, H, W).
        y: their labels (N,).
        attack: any callable ``(x, y) -> x_adv``; default :func:`default_attack` (L-inf PGD-20, eps
            8/255). Ignored for the sets whose ``x_adv``/``x_val_adv`` are given.
        epochs: passes over the data (25, the released ``train_MI_estimator.py``).
        batch_size: samples per step (400, the released code).
        lr: Adam's learning rate (1e-2, the paper's code); it drops x0.1 at the ``milestones``.
        objective: ``"eq5"`` (default, Eq. 5 with the subtracted MI clamped at 0), ``"eq5-literal"``
            or ``"mim"`` (Eq. 4), see the module docstring.
        x_val: held-out images for the Fig. 4 check (``result.check``).
        y_val: their labels.
        device: where to train (default: the model's device).
        progress: show tqdm progress bars.
        seed: seeds initialisation, shuffling and the attack's random start (global RNG restored).
        width: estimator width (the paper's 2048).
        layer: read the global input from this layer of ``model`` (a :class:`FeatureTap`) instead of
            the logits.
        milestones: the fractions of the epochs at which the LR drops x0.1 (the code's 10 and 20 of 25).
        x_adv: precomputed adversarial images of ``x`` (then ``attack`` is not run on them).
        x_val_adv: precomputed adversarial images of ``x_val``.

    Every batch (of size >= 2) contributes all its samples as negatives; only the samples of Eq. 6
    enter the objective, and batches without any are skipped. The estimators train in train mode
    (BatchNorm on batch statistics) and are returned in eval mode.

    Returns:
        :class:`EstimatorTrainingResult` with ``natural``, ``adversarial``, ``history``, ``check``.

    Examples:
        >>> import torch
        >>> from torch import nn
        >>> model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 10)).eval()
        >>> x, y = torch.rand(16, 3, 8, 8), torch.randint(0, 10, (16,))
        >>> from mireg.estimators import default_attack, save_estimators, train_estimators
        >>> res = train_estimators(model, x, y, attack=default_attack(model, steps=2), epochs=1, batch_size=8,
        ...                        width=8, x_val=x, y_val=y, progress=False)
        >>> check = res.check       # E_n(x) > E_n(x_adv) and E_a(x_adv) > E_a(x) on held-out data?
        >>> save_estimators("estimators.pt", res.natural, res.adversarial, res.metadata)
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    check_images("x", x)
    if x.dim() != 4:
        raise ValueError(f"x must be a batch of images (N, C, H, W), got shape {tuple(x.shape)}")
    y = check_labels("y", y, batch=x.shape[0])
    check_number("epochs", epochs, low=1, integer=True)
    check_number("batch_size", batch_size, low=2, integer=True)
    check_number("lr", lr, low=0.0, low_open=True)
    check_choice("objective", objective, ("eq5", "eq5-literal", "mim"))
    check_number("width", width, low=1, integer=True)
    milestones = check_fractions("milestones", milestones)
    if layer is not None:
        check_layer(model, layer)
    if attack is not None and not callable(attack):
        raise TypeError(f"attack must be a callable (x, y) -> x_adv, got {type(attack).__name__}")
    if (x_val is None) != (y_val is None):
        raise ValueError("x_val and y_val must be given together")
    if x_val is not None:
        check_images("x_val", x_val)
        y_val = check_labels("y_val", y_val, batch=x_val.shape[0])
    for name, adv, ref in (("x_adv", x_adv, x), ("x_val_adv", x_val_adv, x_val)):
        if adv is not None:
            check_images(name, adv)
            if ref is None or adv.shape != ref.shape:
                raise ValueError(f"{name} must have the shape of its clean images, got {tuple(adv.shape)}")
    device = torch.device(device) if device is not None else model_device(model)
    with preserved_modes(model, training=False), seeded(seed, device):
        return _train(model, x, y, attack, epochs, batch_size, lr, objective, x_val, y_val, device, progress,
                      seed, width, layer, milestones, x_adv, x_val_adv)


def _train(model, x, y, attack, epochs, batch_size, lr, objective, x_val, y_val, device, progress, seed, width,
           layer, milestones, x_adv, x_val_adv) -> EstimatorTrainingResult:
    if attack is None and (x_adv is None or (x_val is not None and x_val_adv is None)):
        attack = default_attack(model)
    logits_nat, g_nat = global_inputs(model, x, batch_size=batch_size, layer=layer, device=device)
    check_labels("y", y, batch=x.shape[0], num_classes=logits_nat.shape[1])  # before any attack runs
    if y_val is not None:
        check_labels("y_val", y_val, batch=x_val.shape[0], num_classes=logits_nat.shape[1])
    if x_adv is None:
        x_adv = run_attack(attack, x, y, batch_size, device, "attack (train)", progress)
    logits_adv, g_adv = global_inputs(model, x_adv, batch_size=batch_size, layer=layer, device=device)
    selected = namid_selection(logits_nat, logits_adv, y.to(device))
    n_selected = int(selected.sum())
    if n_selected == 0:
        raise ValueError("no training sample is correct on x and wrong on x_adv (NAMID Eq. 6): the attack is "
                         "too weak or the model too inaccurate to train the estimators")
    global_dim = g_nat.shape[1]
    natural = LocalDIMEstimator(global_dim, x.shape[1], width).to(device)
    adversarial = LocalDIMEstimator(global_dim, x.shape[1], width).to(device)
    optimizer = torch.optim.Adam(list(natural.parameters()) + list(adversarial.parameters()), lr=lr)
    steps = sorted({max(1, math.floor(m * epochs)) for m in milestones if 0 < m < 1})
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, steps, gamma=0.1)
    natural.train()
    adversarial.train()
    history = []
    bar = tqdm(range(epochs), desc=f"estimators ({objective})", disable=not progress)
    for epoch in bar:
        means, skipped = _fit_epoch(natural, adversarial, optimizer, objective, x, x_adv, g_nat, g_adv, selected,
                                    batch_size, device)
        scheduler.step()
        row = {"epoch": epoch + 1, **means, "n_selected": n_selected, "skipped_batches": skipped}
        history.append(row)
        bar.set_postfix(gap_n=f"{row['gap_n']:.3f}", gap_a=f"{row['gap_a']:.3f}")
    natural.eval()
    adversarial.eval()
    check = None
    if x_val is not None:
        if x_val_adv is None:
            x_val_adv = run_attack(attack, x_val, y_val, batch_size, device, "attack (val)", progress)
        check = check_estimators(model, natural, adversarial, x_val, y_val, x_val_adv, batch_size=batch_size,
                                 layer=layer)
    metadata = {"objective": objective, "epochs": epochs, "batch_size": batch_size, "lr": lr, "seed": seed,
                "width": width, "layer": layer, "num_classes": logits_nat.shape[1], "n_train": int(x.shape[0]),
                "n_selected": n_selected, "attack": type(attack).__name__ if attack is not None else "given",
                "image_shape": list(x.shape[1:])}
    return EstimatorTrainingResult(natural, adversarial, history, check, metadata)


def _fit_epoch(natural: LocalDIMEstimator, adversarial: LocalDIMEstimator, optimizer: torch.optim.Optimizer,
               objective: str, x: torch.Tensor, x_adv: torch.Tensor, g_nat: torch.Tensor, g_adv: torch.Tensor,
               selected: torch.Tensor, batch_size: int, device: torch.device) -> tuple[dict[str, float], int]:
    """One epoch over shuffled batches (batches without a selected sample are skipped); returns the
    mean losses and MI gaps on the selection, and the number of skipped batches."""
    sums = {"loss_n": 0.0, "loss_a": 0.0, "gap_n": 0.0, "gap_a": 0.0}
    batches = skipped = 0
    for idx in torch.randperm(x.shape[0], device=device).split(batch_size):
        sel = selected[idx]
        if idx.numel() < 2 or not bool(sel.any()):
            skipped += 1
            continue
        idx_cpu = idx.to(x.device)
        xb, xab = x[idx_cpu].to(device), x_adv[idx_cpu].to(device)
        g_both = torch.cat([g_nat[idx], g_adv[idx]])  # one global pass: shared BatchNorm statistics
        b = idx.numel()
        en_nat, en_adv = natural.score(natural.local_features(xb), natural.global_features(g_both).view(2, b, -1))
        ea_nat, ea_adv = adversarial.score(adversarial.local_features(xab - xb),
                                           adversarial.global_features(g_both).view(2, b, -1))
        loss_n, loss_a = _objective(objective, sel, en_nat, en_adv, ea_adv, ea_nat)
        optimizer.zero_grad(set_to_none=True)
        (loss_n + loss_a).backward()
        optimizer.step()
        with torch.no_grad():
            sums["loss_n"] += float(loss_n)
            sums["loss_a"] += float(loss_a)
            sums["gap_n"] += float((en_nat - en_adv)[sel].mean())
            sums["gap_a"] += float((ea_adv - ea_nat)[sel].mean())
        batches += 1
    return {k: v / max(batches, 1) for k, v in sums.items()}, skipped
