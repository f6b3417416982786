"""Per-term diagnosis of NAMID's loss (Eq. 9) on a classifier: which term pushes how hard.

For each model state given (a fresh initialisation, or mireg checkpoints, e.g. the ``epoch_*.pt``
snapshots of a run), on a few fixed training batches of digits, it rebuilds one NAMID step as the
engine runs it (``mart-pgd`` in eval mode, both forwards in train mode) and reports

- the Eq. 6 selection size m and the classifier's clean / adversarial batch accuracy;
- the terms CE(h(x_adv), y), alpha*Lcos_n, alpha*Lcos_a and alpha*lam*mean(E_a - E_n);
- the L2 norm of each term's gradient w.r.t. the classifier's parameters and w.r.t. the logits;
- the per-sample scores E_n(h(x)), E_n(h(x_adv)), E_a(h(x)), E_a(h(x_adv)) on the selection
  (mean, and the norm of the vectors the cosines are taken over) and the logits' scale.

The terms are recomputed from the estimators' public pieces and checked against
``NaturalAdversarialMILoss`` on the same inputs (they must agree to 1e-5).

Example::

    python benchmarks/namid_from_scratch/diagnose.py --estimators /tmp/nm/est.pt \\
        --states init /tmp/nm/at/best.pt --out /tmp/nm/diag.json
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import torch
import torch.nn.functional as F

import mireg
from mireg.data import TensorLoader, load_dataset, split_validation
from mireg.estimators import load_estimators
from mireg.functional.mi import cosine_loss, namid_selection
from mireg.models import create_model
from mireg.registry import ATTACKS
from mireg.train import build_config, load_model_weights

TERMS = ("ce", "cos_n", "cos_a", "lam")


def _cos_loss(a: torch.Tensor, b: torch.Tensor, floor: float) -> torch.Tensor:
    if not floor:
        return cosine_loss(a, b)
    f = floor * a.numel() ** 0.5  # an RMS floor of `floor` nats per sample
    return 1.0 - (a * b).sum() / (a.norm().clamp(min=f) * b.norm().clamp(min=f))


def mi_terms(e_n, e_a, logits_nat, logits_adv, y, x, x_adv, *, alpha: float, lam: float, min_selected: int = 1,
             floor: float = 0.0):
    """alpha*Lcos_n, alpha*Lcos_a, alpha*lam*mean(E_a - E_n) (as NaturalAdversarialMILoss) and the scores.

    Experiments (not mireg's loss): ``min_selected`` > 1 turns the cosine terms off on batches with
    fewer selected samples; ``floor`` > 0 floors the norms of the score vectors in the cosines at
    ``floor * sqrt(m)`` (an RMS of ``floor`` nats per sample)."""
    sel = namid_selection(logits_nat, logits_adv, y)
    b = y.numel()
    with torch.no_grad():
        local_n = e_n.local_features(x)
        local_a = e_a.local_features(x_adv - x)
    logits = torch.cat([logits_nat, logits_adv])
    en_nat, en_adv = e_n.score(local_n, e_n.global_features(logits).view(2, b, -1))
    ea_nat, ea_adv = e_a.score(local_a, e_a.global_features(logits).view(2, b, -1))
    scores = {"en_nat": en_nat, "en_adv": en_adv, "ea_nat": ea_nat, "ea_adv": ea_adv}
    if not bool(sel.any()):
        zero = (logits.sum() * 0.0)
        return {"cos_n": zero, "cos_a": zero, "lam": zero}, scores, sel
    s = {k: v[sel] for k, v in scores.items()}
    on = 1.0 if int(sel.sum()) >= min_selected else 0.0
    terms = {"cos_n": on * alpha * _cos_loss(s["en_adv"], s["en_nat"], floor),
             "cos_a": on * alpha * _cos_loss(s["ea_adv"], s["ea_nat"], floor),
             "lam": alpha * lam * (s["ea_adv"] - s["en_adv"]).mean()}
    return terms, scores, sel


def grad_norm(value: torch.Tensor, inputs: list[torch.Tensor]) -> float:
    if not value.requires_grad:
        return 0.0
    grads = torch.autograd.grad(value, inputs, retain_graph=True, allow_unused=True)
    return math.sqrt(sum(float(g.pow(2).sum()) for g in grads if g is not None))


def diagnose_state(model, e_n, e_a, batches, cfg, alpha: float, lam: float) -> dict[str, float]:
    attack = mireg.TrainingAttack(ATTACKS.get("mart-pgd")(model, eps=cfg.eps, alpha=cfg.alpha, steps=cfg.steps),
                                  mode=cfg.attack_mode)
    reference = alpha * mireg.NaturalAdversarialMILoss(e_n, e_a, lam=lam)
    params = [p for p in model.parameters() if p.requires_grad]
    rows = []
    for x, y in batches:
        model.train()
        x_adv = attack(x, y)
        logits_adv = model(x_adv)
        logits_nat = model(x)
        terms, scores, sel = mi_terms(e_n, e_a, logits_nat, logits_adv, y, x, x_adv, alpha=alpha, lam=lam)
        terms = {"ce": F.cross_entropy(logits_adv, y), **terms}
        ref = reference(logits_nat, logits_adv, y, x=x, x_adv=x_adv)
        mine = terms["cos_n"] + terms["cos_a"] + terms["lam"]
        assert abs(float(ref) - float(mine)) < 1e-5 * max(1.0, abs(float(ref))), (float(ref), float(mine))
        row = {"m": int(sel.sum()), "batch": y.numel(),
               "nat_acc": float((logits_nat.argmax(1) == y).float().mean()),
               "adv_acc": float((logits_adv.argmax(1) == y).float().mean()),
               "logit_std": float(logits_nat.std(dim=1).mean()),
               "logit_norm": float(logits_nat.norm(dim=1).mean())}
        for name, value in terms.items():
            row[f"{name}"] = float(value)
            row[f"grad_{name}"] = grad_norm(value, params)
            row[f"dlogits_{name}"] = grad_norm(value, [logits_nat, logits_adv])
        for name, value in scores.items():
            v = value[sel] if bool(sel.any()) else value[:0]
            row[f"{name}_mean"] = float(v.mean()) if v.numel() else float("nan")
            row[f"{name}_vecnorm"] = float(v.norm()) if v.numel() else float("nan")
        rows.append(row)
        model.zero_grad(set_to_none=True)
    return {k: sum(r[k] for r in rows) / len(rows) for k in rows[0]}


def load_state(spec: str, cfg, data, seed: int):
    torch.manual_seed(seed)
    model = create_model(cfg.model, num_classes=data.num_classes, in_channels=data.image_shape[0],
                         **cfg.model_kwargs)
    if spec != "init":
        load_model_weights(model, spec)
    return model


def main(argv: list[str] | None = None) -> dict[str, dict[str, float]]:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--estimators", required=True, help="a `mireg estimators` checkpoint")
    p.add_argument("--states", nargs="+", required=True, help="'init' (fresh model of --seed) or checkpoint paths")
    p.add_argument("--recipe", default="digits-namid")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batches", type=int, default=4, help="number of fixed training batches to average over")
    p.add_argument("--lam", type=float, default=0.1)
    p.add_argument("--alpha", type=float, default=5.0)
    p.add_argument("--out", help="write the table as JSON here")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    cfg = build_config(args.recipe)
    options = {k: getattr(cfg, k) for k in ("image_size", "channels") if getattr(cfg, k) is not None}
    train_data, _ = split_validation(load_dataset(cfg.dataset, split="train", **options), cfg.val_size, seed=cfg.seed)
    loader = TensorLoader(train_data, batch_size=cfg.batch_size, shuffle=True, seed=1234)
    batches = [b for _, b in zip(range(args.batches), loader, strict=False)]
    e_n, e_a, _ = load_estimators(args.estimators)
    out = {}
    for spec in args.states:
        torch.manual_seed(4321)  # the same attack starts for every state
        model = load_state(spec, cfg, train_data, args.seed)
        out[spec] = diagnose_state(model, e_n, e_a, batches, cfg, args.alpha, args.lam)
        r = out[spec]
        print(f"{Path(spec).name:>16}: m={r['m']:.1f}/{r['batch']:.0f} nat {r['nat_acc']:.2f} adv {r['adv_acc']:.2f} "
              f"| value ce {r['ce']:.3f} cos_n {r['cos_n']:.3f} cos_a {r['cos_a']:.3f} lam {r['lam']:.3f} "
              f"| grad ce {r['grad_ce']:.3f} cos_n {r['grad_cos_n']:.3f} cos_a {r['grad_cos_a']:.3f} "
              f"lam {r['grad_lam']:.3f} | |E_n nat| {r['en_nat_vecnorm']:.3f} |E_a adv| {r['ea_adv_vecnorm']:.3f}",
              flush=True)
    if args.out:
        Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    return out


if __name__ == "__main__":
    main()
