"""Step-by-step trace of NAMID training on digits: every term's value and gradient norm at every step.

A plain loop that takes the engine's NAMID step (``mart-pgd`` in eval mode through
``mireg.TrainingAttack``, both forwards in train mode, loss ``CE(h(x_adv), y) + alpha * L_mi``, SGD
with the ``digits-namid`` recipe's lr / momentum / weight decay, batch 64, no lr decay) from a
given state, and logs per step: the Eq. 6 selection size m, the terms CE, alpha*Lcos_n,
alpha*Lcos_a, alpha*lam*mean(E_a - E_n), the L2 norm of each term's gradient w.r.t. the parameters,
the logits' scale (mean std across classes) on x and x_adv, and the batch accuracies; after each
epoch the validation clean accuracy (eval-mode BN, 200 held-out images).

Example::

    python benchmarks/namid_from_scratch/trace.py --estimators /tmp/nm/est01.pt \\
        --init /tmp/nm/warm-at2/last.pt --epochs 3 --out /tmp/nm/trace.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
import torch.nn.functional as F
from diagnose import TERMS, grad_norm, load_state, mi_terms  # noqa: I001  (script folder on sys.path)

import mireg
from mireg.data import TensorLoader, load_dataset, split_validation
from mireg.estimators import load_estimators
from mireg.registry import ATTACKS
from mireg.train import build_config


def run(args) -> list[dict]:
    cfg = build_config(args.recipe)
    options = {k: getattr(cfg, k) for k in ("image_size", "channels") if getattr(cfg, k) is not None}
    train_data, val_data = split_validation(load_dataset(cfg.dataset, split="train", **options), cfg.val_size,
                                            seed=cfg.seed)
    model = load_state(args.init, cfg, train_data, args.seed)
    e_n, e_a, _ = load_estimators(args.estimators)
    lr = args.lr if args.lr is not None else cfg.lr
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    attack = mireg.TrainingAttack(ATTACKS.get("mart-pgd")(model, eps=cfg.eps, alpha=cfg.alpha, steps=cfg.steps),
                                  mode=cfg.attack_mode)
    loader = TensorLoader(train_data, batch_size=cfg.batch_size, shuffle=True, seed=args.seed)
    params = [p for p in model.parameters() if p.requires_grad]
    x_val, y_val = val_data.float(), val_data.y
    rows = []
    torch.manual_seed(args.seed)
    for epoch in range(args.epochs):
        loader.set_epoch(epoch)
        for step, (x, y) in enumerate(loader):
            model.train()
            x_adv = attack(x, y)
            logits_adv, logits_nat = model(x_adv), model(x)
            done = (epoch + step / len(loader)) / args.alpha_ramp if args.alpha_ramp else 1.0
            terms, scores, sel = mi_terms(e_n, e_a, logits_nat, logits_adv, y, x, x_adv,
                                          alpha=args.alpha * min(1.0, done), lam=args.lam,
                                          min_selected=args.min_selected, floor=args.floor)
            terms = {"ce": F.cross_entropy(logits_adv, y), **terms}
            row = {"epoch": epoch + 1, "step": step + 1, "m": int(sel.sum()),
                   "nat_acc": float((logits_nat.argmax(1) == y).float().mean()),
                   "adv_acc": float((logits_adv.argmax(1) == y).float().mean()),
                   "logit_std_nat": float(logits_nat.std(1).mean()), "logit_std_adv": float(logits_adv.std(1).mean())}
            for name, value in scores.items():  # RMS of the selected scores (what the cosines divide by)
                row[f"rms_{name}"] = float(value[sel].pow(2).mean().sqrt()) if bool(sel.any()) else float("nan")
            for name in TERMS:
                row[name] = float(terms[name])
                row[f"grad_{name}"] = grad_norm(terms[name], params)
            loss = sum(terms.values())
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            rows.append(row)
            print(f"e{row['epoch']} s{row['step']:>2} m={row['m']:>2} nat {row['nat_acc']:.2f} "
                  f"adv {row['adv_acc']:.2f} std {row['logit_std_nat']:6.2f} | ce {row['ce']:6.3f} "
                  f"cos_n {row['cos_n']:.3f} "
                  f"cos_a {row['cos_a']:.3f} lam {row['lam']:+.3f} | grad ce {row['grad_ce']:7.3f} "
                  f"cos_n {row['grad_cos_n']:7.3f} cos_a {row['grad_cos_a']:6.3f} lam {row['grad_lam']:6.3f} | "
                  f"rms E_n(adv) {row['rms_en_adv']:.3f} E_a(adv) {row['rms_ea_adv']:.3f}",
                  flush=True)
        model.eval()
        with torch.no_grad():
            acc = float((model(x_val).argmax(1) == y_val).float().mean())
        rows[-1]["val_clean_acc"] = acc
        print(f"epoch {epoch + 1}: val clean acc {acc:.3f}", flush=True)
    return rows


def main(argv: list[str] | None = None) -> list[dict]:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--estimators", required=True)
    p.add_argument("--init", default="init", help="'init' (fresh model of --seed) or a checkpoint path")
    p.add_argument("--recipe", default="digits-namid")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--alpha", type=float, default=5.0)
    p.add_argument("--lam", type=float, default=0.1)
    p.add_argument("--lr", type=float, default=None)
    p.add_argument("--alpha-ramp", type=float, default=0.0, help="raise alpha linearly from 0 over this many epochs")
    p.add_argument("--floor", type=float, default=0.0, help="RMS floor (nats) of the score vectors in the cosines")
    p.add_argument("--min-selected", type=int, default=1, help="cosine terms off below this selection size")
    p.add_argument("--out")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    rows = run(args)
    if args.out:
        Path(args.out).write_text(json.dumps(rows, indent=2) + "\n")
    return rows


if __name__ == "__main__":
    main()
