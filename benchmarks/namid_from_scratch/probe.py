"""Where does each term of NAMID's loss push the classifier? One plain SGD step per term, measured.

From a model state, on fixed digits training batches (the engine's NAMID step: ``mart-pgd`` in eval
mode, both forwards in train mode), it takes for each term T in {CE, alpha*Lcos_n, alpha*Lcos_a,
alpha*lam*(E_a - E_n), the whole loss} one SGD step ``theta - lr * grad T`` (no momentum, the
recipe's lr) from the same weights, and reports what changed on a held-out probe batch (eval-mode
BatchNorm, so a step is judged as the validation would judge it): clean accuracy, the mean std of
the logits across classes (0 = a constant output), the prediction entropy, and the term's own value
before/after on the training batch. It also gives the cosine between the terms' parameter gradients
(a negative cosine with CE means the term works against classification).

Example::

    python benchmarks/namid_from_scratch/probe.py --estimators /tmp/nm/est01.pt \\
        --states init /tmp/nm/warm-clean2/last.pt /tmp/nm/at/best.pt
"""

from __future__ import annotations

import argparse
import copy
import json
from pathlib import Path

import torch
import torch.nn.functional as F
from diagnose import TERMS, load_state, mi_terms  # noqa: I001  (script folder on sys.path)

import mireg
from mireg.data import TensorLoader, load_dataset, split_validation
from mireg.estimators import load_estimators
from mireg.registry import ATTACKS
from mireg.train import build_config


def _terms(model, e_n, e_a, x, y, x_adv, alpha, lam):
    model.train()
    logits_adv, logits_nat = model(x_adv), model(x)
    terms, _, sel = mi_terms(e_n, e_a, logits_nat, logits_adv, y, x, x_adv, alpha=alpha, lam=lam)
    return {"ce": F.cross_entropy(logits_adv, y), **terms}, int(sel.sum())


@torch.no_grad()
def _eval(model, x, y):
    model.eval()
    logits = model(x)
    p = logits.softmax(1)
    return {"acc": float((logits.argmax(1) == y).float().mean()), "logit_std": float(logits.std(1).mean()),
            "entropy": float(-(p * p.clamp_min(1e-12).log()).sum(1).mean())}


def probe_state(model, e_n, e_a, batch, probe, cfg, alpha, lam, lr):
    x, y = batch
    torch.manual_seed(99)
    attack = mireg.TrainingAttack(ATTACKS.get("mart-pgd")(model, eps=cfg.eps, alpha=cfg.alpha, steps=cfg.steps),
                                  mode=cfg.attack_mode)
    x_adv = attack(x, y)
    state = copy.deepcopy(model.state_dict())
    params = [p for p in model.parameters() if p.requires_grad]
    terms, m = _terms(model, e_n, e_a, x, y, x_adv, alpha, lam)
    terms["total"] = sum(terms.values())
    grads = {}
    for name, value in terms.items():
        g = torch.autograd.grad(value, params, retain_graph=True, allow_unused=True) if value.requires_grad else None
        grads[name] = torch.cat([(gi if gi is not None else torch.zeros_like(p)).flatten()
                                 for gi, p in zip(g or [None] * len(params), params, strict=True)])
    model.load_state_dict(state)  # the train-mode forwards moved the BN running statistics
    out = {"m": m, "before": _eval(model, *probe), "values": {k: float(v) for k, v in terms.items()}}
    for name in (*TERMS, "total"):
        g = grads[name]
        out[f"cos_grad_{name}_vs_ce"] = float(F.cosine_similarity(g, grads["ce"], dim=0)) if g.norm() > 0 else 0.0
        out[f"gradnorm_{name}"] = float(g.norm())
        with torch.no_grad():
            offset = 0
            for p in params:
                n = p.numel()
                p.sub_(lr * g[offset:offset + n].view_as(p))
                offset += n
        after = _eval(model, *probe)
        new_terms, _ = _terms(model, e_n, e_a, x, y, x_adv, alpha, lam)
        new_terms["total"] = sum(new_terms.values())
        out[f"step_{name}"] = {**after, "value_after": float(new_terms[name])}
        model.load_state_dict(state)
    return out


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--estimators", required=True)
    p.add_argument("--states", nargs="+", required=True, help="'init' or checkpoint paths")
    p.add_argument("--recipe", default="digits-namid")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--lam", type=float, default=0.1)
    p.add_argument("--alpha", type=float, default=5.0)
    p.add_argument("--lr", type=float, default=None, help="SGD step (default: the recipe's lr)")
    p.add_argument("--out")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    cfg = build_config(args.recipe)
    options = {k: getattr(cfg, k) for k in ("image_size", "channels") if getattr(cfg, k) is not None}
    train_data, val_data = split_validation(load_dataset(cfg.dataset, split="train", **options), cfg.val_size,
                                            seed=cfg.seed)
    batch = next(iter(TensorLoader(train_data, batch_size=cfg.batch_size, shuffle=True, seed=1234)))
    probe = (val_data.float(), val_data.y)
    e_n, e_a, _ = load_estimators(args.estimators)
    lr = args.lr or cfg.lr
    out = {}
    for spec in args.states:
        model = load_state(spec, cfg, train_data, args.seed)
        r = out[spec] = probe_state(model, e_n, e_a, batch, probe, cfg, args.alpha, args.lam, lr)
        b = r["before"]
        print(f"{Path(spec).name}: m={r['m']} probe acc {b['acc']:.3f} logit std {b['logit_std']:.3f} "
              f"entropy {b['entropy']:.3f}")
        for name in (*TERMS, "total"):
            s = r[f"step_{name}"]
            print(f"  step on {name:>5}: |g| {r[f'gradnorm_{name}']:7.3f} "
                  f"cos(g, g_ce) {r[f'cos_grad_{name}_vs_ce']:+.3f}"
                  f" | value {r['values'][name]:+.4f} -> {s['value_after']:+.4f} | probe acc {s['acc']:.3f} "
                  f"logit std {s['logit_std']:.3f} entropy {s['entropy']:.3f}", flush=True)
    if args.out:
        Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    return out


if __name__ == "__main__":
    main()
