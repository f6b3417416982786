"""How far can a classifier push NAMID's lam term by moving its adversarial logits alone?

NAMID's Eq. 8 has ``lam * mean_i [E_a(h(x_adv_i)) - E_n(h(x_adv_i))]`` over the selected samples:
a linear objective in two frozen estimators' scores. This script takes the selected samples of a
batch (a trained AT model, PGD on digits), frees their adversarial logits ``z_i`` (initialised at
``h(x_adv_i)``) and minimises that term over ``z`` with Adam, i.e. it asks what the best response of
an arbitrarily flexible classifier head is. It prints, per step, the gap ``mean(E_n - E_a)`` at
``z``, the logits' norm, and for reference the same gap at the natural logits ``h(x_i)`` (what a
perfectly robust model would reach).

Example::

    python benchmarks/namid_from_scratch/unbounded.py --model /tmp/nm12/cmp/seed0/at/best.pt \\
        --estimators /tmp/nm12/cmp/seed0/est.pt
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from mireg.checkpoints import load_model_weights
from mireg.data import TensorLoader
from mireg.estimators import load_estimators
from mireg.functional.mi import namid_selection
from mireg.recipes import build_config
from mireg.registry import ATTACKS
from mireg.runs import build_model, train_val_split


def main(argv: list[str] | None = None) -> list[dict]:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", required=True, help="a mireg checkpoint (e.g. an AT model)")
    p.add_argument("--estimators", required=True)
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--out")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    cfg = build_config("digits-namid", overrides={"device": "cpu"})
    train_data, _ = train_val_split(cfg)
    x, y = next(iter(TensorLoader(train_data, batch_size=args.batch_size, shuffle=True, seed=1234)))
    model = build_model(cfg, train_data)
    load_model_weights(model, args.model)
    model.eval()
    torch.manual_seed(0)
    x_adv = ATTACKS.get("pgd")(model, eps=cfg.eps, alpha=cfg.eps / 4, steps=20)(x, y)
    e_n, e_a, _ = load_estimators(args.estimators)
    for e in (e_n, e_a):
        e.eval().requires_grad_(False)
    with torch.no_grad():
        logits_nat, logits_adv = model(x), model(x_adv)
        local_n, local_a = e_n.local_features(x), e_a.local_features(x_adv - x)
    sel = namid_selection(logits_nat, logits_adv, y)

    def scores(z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return e_n.score(local_n, e_n.global_features(z)), e_a.score(local_a, e_a.global_features(z))

    with torch.no_grad():
        en_ref, ea_ref = scores(logits_nat)
    z = logits_adv.clone().requires_grad_(True)
    opt = torch.optim.Adam([z], lr=args.lr)
    rows = []
    for step in range(args.steps + 1):
        z_all = torch.where(sel[:, None], z, logits_adv)  # only the selected rows are free
        en, ea = scores(z_all)
        gap = (en - ea)[sel]
        loss = -gap.mean()
        if step % 25 == 0:
            row = {"step": step, "gap_adv": float(gap.mean()), "loss": float(loss),
                   "gap_nat_reference": float((en_ref - ea_ref)[sel].mean()),
                   "logit_norm": float(z_all[sel].norm(dim=1).mean()),
                   "logit_norm_nat": float(logits_nat[sel].norm(dim=1).mean()),
                   "still_wrong": float((z_all[sel].argmax(1) != y[sel]).float().mean())}
            rows.append(row)
            print(f"step {step:>4}: mean(E_n - E_a) at z {row['gap_adv']:+8.3f} (natural logits "
                  f"{row['gap_nat_reference']:+.3f}) | |z| {row['logit_norm']:8.2f} (natural "
                  f"{row['logit_norm_nat']:.2f}) | loss {row['loss']:+.4f} | z still wrong {row['still_wrong']:.2f}",
                  flush=True)
        opt.zero_grad()
        loss.backward()
        opt.step()
    print(f"{int(sel.sum())} selected samples of {len(y)}")
    if args.out:
        Path(args.out).write_text(json.dumps(rows, indent=2) + "\n")
    return rows


if __name__ == "__main__":
    main()
