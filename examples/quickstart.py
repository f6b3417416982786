"""Quickstart: PGD-AT against InfoAT in your own training loop, on CPU, in a few minutes.

Real data: the 1,797 handwritten digits bundled with scikit-learn (8x8, upsampled to 16x16),
1,297 for training and 500 held out for testing. Both methods get the same model, optimiser,
epochs, seed and a 10-step inner attack; only the loss and the inner maximiser differ:

- PGD-AT (Madry et al. 2018): PGD-10 inner maximiser, ``ATLoss()`` (cross-entropy on x_adv);
- InfoAT (Xu et al. 2022): InfoPGD-10 inner maximiser (Eq. 18), ``ATLoss() + InfoAT(lam, beta)`` (Eq. 17).

Run ``python examples/quickstart.py --help`` for the options. It prints clean and PGD-20 accuracy
on the held-out digits for both. Digits are not CIFAR-10: the numbers show the parts working end to
end, not the papers' claims.
"""

from __future__ import annotations

import argparse
import time

import torch
import torchattacks

import mireg
from mireg.data import TensorLoader, load_dataset
from mireg.models import create_model


def train(method: str, train_data, args) -> torch.nn.Module:
    torch.manual_seed(args.seed)
    model = create_model("small_cnn", num_classes=10, in_channels=1, width=16, hidden=64)
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9, weight_decay=5e-4)
    if method == "PGD-AT":
        inner = torchattacks.PGD(model, eps=args.eps, alpha=args.eps / 4, steps=10)
        criterion = mireg.ATLoss()
    else:
        inner = mireg.InfoPGD(model, eps=args.eps, alpha=args.eps / 4, steps=10, lam=args.lam)
        criterion = mireg.ATLoss() + mireg.InfoAT(lam=args.lam, beta=args.beta)
    attack = mireg.TrainingAttack(inner)  # eval-mode attack, the model's mode restored after each call
    loader = TensorLoader(train_data, batch_size=64, shuffle=True, seed=args.seed)
    for epoch in range(args.epochs):
        model.train()
        loader.set_epoch(epoch)
        for x, y in loader:
            x_adv = attack(x, y)
            logits_adv = model(x_adv)
            logits_nat = model(x) if criterion.uses_natural else None
            loss = criterion(logits_nat, logits_adv, y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        print(f"  {method:7s} epoch {epoch + 1}/{args.epochs}  loss {loss.item():.3f}", flush=True)
    return model.eval()


@torch.no_grad()
def accuracy(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    return (model(x).argmax(1) == y).float().mean().item() * 100


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=10, help="training epochs per method (default: 10)")
    parser.add_argument("--eps", type=float, default=0.1, help="L-inf radius for training and testing (default: 0.1)")
    parser.add_argument("--lam", type=float, default=2.5, help="InfoAT lambda, Eq. 17-18 (default: 2.5)")
    parser.add_argument("--beta", type=float, default=0.2, help="InfoAT beta, Eq. 17 (default: 0.2)")
    parser.add_argument("--lr", type=float, default=0.05, help="SGD learning rate (default: 0.05)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    train_data = load_dataset("digits", split="train", image_size=16, channels=1)
    test = load_dataset("digits", split="test", image_size=16, channels=1)
    x_test, y_test = test.float(), test.y
    rows = []
    for method in ("PGD-AT", "InfoAT"):
        start = time.perf_counter()
        model = train(method, train_data, args)
        seconds = time.perf_counter() - start
        torch.manual_seed(args.seed)
        x_adv = torchattacks.PGD(model, eps=args.eps, alpha=args.eps / 8, steps=20)(x_test, y_test)
        rows.append((method, accuracy(model, x_test, y_test), accuracy(model, x_adv, y_test), seconds))

    print(f"\nscikit-learn digits (16x16), 500 held-out test images, L-inf eps = {args.eps:g}")
    print(f"{'method':8s} {'clean %':>8s} {'PGD-20 %':>9s} {'train s':>8s}")
    for method, clean, robust, seconds in rows:
        print(f"{method:8s} {clean:8.2f} {robust:9.2f} {seconds:8.1f}")


if __name__ == "__main__":
    main()
