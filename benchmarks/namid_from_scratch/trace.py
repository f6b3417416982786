"""Step-by-step trace of NAMID training on digits: every term's value and gradient norm at every step.

A plain loop that takes the engine's NAMID step (``mart-pgd`` in eval mode through
``mireg.TrainingAttack``, both forwards in train mode, loss ``CE(h(x_adv), y) + w * alpha * L_mi``,
SGD with the ``digits-namid`` recipe's lr / momentum / weight decay, batch 64, no lr decay) from a
fresh model or a checkpoint. ``w`` is ``mireg.train.schedules.mi_weight_factor`` of
``--mi-warmup-epochs`` / ``--mi-ramp-epochs`` (the fix; both 0: the paper's loss from step 1).
Per step it logs: the Eq. 6 selection size m, the terms CE, alpha*Lcos_n, alpha*Lcos_a and
alpha*lam*mean(E_a - E_n) (recomputed from the estimators' pieces and checked against
``NaturalAdversarialMILoss``), the L2 norm of each term's gradient w.r.t. the parameters (before
``w``), the RMS of the selected scores (what the cosines divide by), the logits' scale (mean std
across classes) and the batch accuracies; after each epoch the validation clean accuracy (eval-mode
BN, the 200 held-out images).

Example::

    python benchmarks/namid_from_scratch/trace.py --estimators /tmp/nm12/cmp/seed0/est.pt --epochs 3 \\
        --out /tmp/nm12/trace.json
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import torch
import torch.nn.functional as F

import mireg
from mireg.checkpoints import load_model_weights
from mireg.data import TensorLoader
from mireg.estimators import load_estimators
from mireg.functional.mi import cosine_loss, namid_selection
from mireg.recipes import build_config
from mireg.registry import ATTACKS
from mireg.runs import build_model, train_val_split
from mireg.train.schedules import mi_weight_factor

TERMS = ("ce", "cos_n", "cos_a", "lam")


def grad_norm(value: torch.Tensor, inputs: list[torch.Tensor]) -> float:
    if not value.requires_grad:
        return 0.0
    grads = torch.autograd.grad(value, inputs, retain_graph=True, allow_unused=True)
    return math.sqrt(sum(float(g.pow(2).sum()) for g in grads if g is not None))


def mi_terms(e_n, e_a, logits_nat, logits_adv, y, x, x_adv, *, alpha: float, lam: float):
    """alpha*Lcos_n, alpha*Lcos_a, alpha*lam*mean(E_a - E_n) as NaturalAdversarialMILoss has them, the
    per-sample scores and the Eq. 6 mask."""
    sel, b = namid_selection(logits_nat, logits_adv, y), y.numel()
    with torch.no_grad():
        local_n, local_a = e_n.local_features(x), e_a.local_features(x_adv - x)
    logits = torch.cat([logits_nat, logits_adv])
    en_nat, en_adv = e_n.score(local_n, e_n.global_features(logits).view(2, b, -1))
    ea_nat, ea_adv = e_a.score(local_a, e_a.global_features(logits).view(2, b, -1))
    scores = {"en_nat": en_nat, "en_adv": en_adv, "ea_nat": ea_nat, "ea_adv": ea_adv}
    if not bool(sel.any()):
        zero = logits.sum() * 0.0
        return {"cos_n": zero, "cos_a": zero, "lam": zero}, scores, sel
    s = {k: v[sel] for k, v in scores.items()}
    return {"cos_n": alpha * cosine_loss(s["en_adv"], s["en_nat"]),
            "cos_a": alpha * cosine_loss(s["ea_adv"], s["ea_nat"]),
            "lam": alpha * lam * (s["ea_adv"] - s["en_adv"]).mean()}, scores, sel


def _row(terms, scores, sel, logits_nat, logits_adv, y, params) -> dict:
    row = {"m": int(sel.sum()), "nat_acc": float((logits_nat.argmax(1) == y).float().mean()),
           "adv_acc": float((logits_adv.argmax(1) == y).float().mean()),
           "logit_std": float(logits_nat.detach().std(1).mean())}
    for name, value in scores.items():
        row[f"rms_{name}"] = float(value[sel].detach().pow(2).mean().sqrt()) if bool(sel.any()) else None
    for name in TERMS:
        row[name] = float(terms[name])
        row[f"grad_{name}"] = grad_norm(terms[name], params)
    return row


def run(args) -> list[dict]:
    cfg = build_config("digits-namid", overrides={"seed": args.seed, "lam": args.lam, "device": "cpu"})
    train_data, val_data = train_val_split(cfg)
    torch.manual_seed(args.seed)
    model = build_model(cfg, train_data)
    if args.init != "init":
        load_model_weights(model, args.init)
    e_n, e_a, _ = load_estimators(args.estimators)
    reference = cfg.mi_weight * mireg.NaturalAdversarialMILoss(e_n, e_a, lam=cfg.lam)
    opt = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    attack = mireg.TrainingAttack(ATTACKS.get("mart-pgd")(model, eps=cfg.eps, alpha=cfg.alpha, steps=cfg.steps),
                                  mode=cfg.attack_mode)
    loader = TensorLoader(train_data, batch_size=cfg.batch_size, shuffle=True, seed=args.seed)
    params = [p for p in model.parameters() if p.requires_grad]
    rows = []
    for epoch in range(args.epochs):
        loader.set_epoch(epoch)
        for step, (x, y) in enumerate(loader):
            model.train()
            x_adv = attack(x, y)
            logits_adv, logits_nat = model(x_adv), model(x)
            terms, scores, sel = mi_terms(e_n, e_a, logits_nat, logits_adv, y, x, x_adv, alpha=cfg.mi_weight,
                                          lam=cfg.lam)
            mine, ref = terms["cos_n"] + terms["cos_a"] + terms["lam"], reference(logits_nat, logits_adv, y, x=x,
                                                                                      x_adv=x_adv)
            assert abs(float(ref) - float(mine)) <= 1e-4 * max(1.0, abs(float(ref))), (float(ref), float(mine))
            terms = {"ce": F.cross_entropy(logits_adv, y), **terms}
            w = mi_weight_factor(epoch * len(loader) + step, len(loader), warmup_epochs=args.mi_warmup_epochs,
                                 ramp_epochs=args.mi_ramp_epochs)
            rows.append({"epoch": epoch + 1, "step": step + 1, "mi_factor": w,
                         **_row(terms, scores, sel, logits_nat, logits_adv, y, params)})
            loss = terms["ce"] + w * (terms["cos_n"] + terms["cos_a"] + terms["lam"])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            r = rows[-1]
            print(f"e{r['epoch']} s{r['step']:>2} w {w:.2f} m={r['m']:>2} nat {r['nat_acc']:.2f} std "
                  f"{r['logit_std']:6.2f} | ce {r['ce']:6.3f} cos_n {r['cos_n']:.3f} cos_a {r['cos_a']:.3f} lam "
                  f"{r['lam']:+.3f} | grad ce {r['grad_ce']:7.3f} cos_n {r['grad_cos_n']:7.3f} cos_a "
                  f"{r['grad_cos_a']:6.3f} lam {r['grad_lam']:6.3f} | rms E_n(adv) {r['rms_en_adv']}", flush=True)
        model.eval()
        with torch.no_grad():
            rows[-1]["val_clean_acc"] = float((model(val_data.float()).argmax(1) == val_data.y).float().mean())
        print(f"epoch {epoch + 1}: val clean acc {rows[-1]['val_clean_acc']:.3f}", flush=True)
    return rows


def main(argv: list[str] | None = None) -> list[dict]:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--estimators", required=True, help="a `mireg estimators` checkpoint")
    p.add_argument("--init", default="init", help="'init' (a fresh model of --seed) or a mireg checkpoint")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--lam", type=float, default=0.1)
    p.add_argument("--mi-warmup-epochs", type=float, default=0.0)
    p.add_argument("--mi-ramp-epochs", type=float, default=0.0)
    p.add_argument("--out", help="write the rows as JSON here")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    rows = run(args)
    if args.out:
        Path(args.out).write_text(json.dumps({"args": vars(args), "rows": rows}, indent=2) + "\n")
    return rows


if __name__ == "__main__":
    main()
