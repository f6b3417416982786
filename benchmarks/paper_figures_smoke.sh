#!/usr/bin/env bash
# Every analysis figure of `mireg figures` on CPU, on scikit-learn's digits (16x16, 3 channels, the
# smoke budget's data): trains the three small models the figures need, NAMID's two estimator pairs,
# then draws the six figures at the digits radius (eps 0.1) with the papers' attacks (PGD-10, ...).
# (namid-fig2 reads clean/last.pt: best.pt is chosen by validation PGD accuracy, an early epoch of a
# clean run.) A smoke test of the pipeline (small models, few points), not a reproduction of the papers' figures.
#
#   bash benchmarks/paper_figures_smoke.sh OUT      (OUT default runs/paper-figures-smoke)
set -euo pipefail
OUT=${1:-runs/paper-figures-smoke}
MIREG=${MIREG:-python -m mireg}
COMMON=(--epochs 5 --set "lr_milestones=[4]" --set channels=3 --seed 0 --no-progress)
EST=(--objective eq5 --epochs 8 --batch-size 128 --lr 1e-2 --width 256 --steps 10 --seed 0 --no-progress)
FIG=(--eps 0.1 --seed 0 --no-progress --out "$OUT/figures")

$MIREG train --recipe digits-infoat "${COMMON[@]}" --out "$OUT/infoat"
$MIREG train --recipe digits-clean "${COMMON[@]}" --out "$OUT/clean"
$MIREG train --recipe digits-at "${COMMON[@]}" --out "$OUT/at"
$MIREG estimators --checkpoint "$OUT/at/best.pt" "${EST[@]}" --out "$OUT/est-eq5.pt"
$MIREG estimators --checkpoint "$OUT/at/best.pt" "${EST[@]/eq5/mim}" --out "$OUT/est-mim.pt"

$MIREG figures infoat-fig1a "$OUT/infoat/best.pt" --n 500 --mine-epochs 20 "${FIG[@]}"
$MIREG figures infoat-fig1b "$OUT/infoat/best.pt" --n 200 "${FIG[@]}"
$MIREG figures infoat-fig4 "$OUT/infoat/best.pt" --n 200 "${FIG[@]}"
$MIREG figures infoat-fig5 "$OUT/infoat/best.pt" --index 0 "${FIG[@]}"
$MIREG figures namid-fig2 "$OUT/clean/last.pt" --n 200 --estimator-epochs 8 --width 256 --max-steps 10 "${FIG[@]}"
$MIREG figures namid-fig4 "$OUT/at/best.pt" --estimators "MIM (Eq. 4)=$OUT/est-mim.pt" \
    --estimators "Our (Eq. 5)=$OUT/est-eq5.pt" "${FIG[@]}"
