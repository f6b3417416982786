#!/usr/bin/env bash
# One method of the fast budget on real CIFAR-10, scaled to two CPU cores: the fast-<method>-resnet18
# recipe (one-cycle lr, PGD-7 of 2/255 at 8/255, crop+flip, 1,000 validation images) with the small CNN
# in place of ResNet-18, batch 128 at lr 0.1 (the recipe's 0.4 at 512, linearly scaled), 5 epochs over
# the whole training set. Then the best-validation checkpoint is evaluated with the quick suite (PGD-20,
# APGD-CE) on the first 1,000 test images and with AutoAttack (standard) on the first 200.
# Evidence that the recipe and the method train on CIFAR-10 where no GPU is available, not a
# reproduction: the papers' numbers are ResNet-18 / WRN-34-10 at 100+ epochs.
#
#   bash benchmarks/cifar10_cpu_small.sh METHOD DATA_ROOT OUT      (METHOD: at, trades, mart, mart+, infoat)
set -euo pipefail
METHOD=$1 DATA=$2 OUT=${3:-runs/cifar10-cpu-small}
MIREG=${MIREG:-python -m mireg}
RUN="$OUT/$METHOD"

$MIREG train --recipe "fast-$METHOD-resnet18" --model small_cnn --data-root "$DATA" --device cpu \
    --epochs 5 --batch-size 128 --lr 0.1 --seed 0 --no-progress --out "$RUN"
$MIREG eval "$RUN/best.pt" --suite quick --n 1000 --device cpu --seed 0 --no-progress --out "$RUN/eval-quick"
$MIREG eval "$RUN/best.pt" --suite robustbench-linf --n 200 --device cpu --seed 0 --no-progress \
    --out "$RUN/eval-autoattack"
