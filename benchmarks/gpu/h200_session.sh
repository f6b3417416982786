#!/usr/bin/env bash
# Issue 11 on one GPU, in at most 8 minutes (the sum of the steps' hard limits): time_to_robustness.py for
# the fast-at-resnet18 recipe with the engine's CUDA defaults (compile, bf16, channels_last, fused SGD,
# drop_last), vs_reference.py (AT / TRADES / InfoAT on ResNet-18, the engine at batch 512 against the
# reference loops at batch 128) and its parity mode (the engine against the plain fp32 loop on ResNet-18,
# same start and data, 200 steps), on CIFAR-10 decoded from the JPEG pack carried in devcarry/.
#
#   bash benchmarks/gpu/h200_session.sh            # on the GPU machine; results in $OUT (else benchmarks/results/h200)
#   bash benchmarks/gpu/h200_session.sh --dry-run  # the same steps on CPU with tiny settings and a random JPEG pack
#
# Every step has a hard time limit (a hang costs at most its own limit) and writes its results as it
# goes; the session never stops at a failed step. Set-up and usage: benchmarks/gpu/README.md.
set -u -o pipefail

DRY=0
if [ "${1:-}" = "--dry-run" ]; then DRY=1; fi
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT" || exit 1
PY=${PYTHON:-python3}
export PYTHONPATH="$ROOT:$ROOT/devcarry/site${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 MPLBACKEND=Agg

if [ "$DRY" = 1 ]; then
    RESULTS=${RESULTS:-$(mktemp -d)}
    WORK=$(mktemp -d)
    PACK=$WORK/pack
    LIMITS=(60 60 240 240 240)  # env, data, time_to_robustness, vs_reference, parity: seconds (a shared 2-core CPU)
    SMALL=(--device cpu --threads 1 --model small_cnn --model-kwargs '{"width": 4, "hidden": 16}' --attack-steps 2)
    VS_ARGS=("${SMALL[@]}" --batch-size 32 --ref-batch-size 32 --steps 2 --warmup 1)
    PARITY_ARGS=("${SMALL[@]}" --ref-batch-size 32 --parity-images 192 --parity-epochs 1 --parity-n-test 40)
    TTR_ARGS=(--recipe fast-at-resnet18 --threads 1 --set device=cpu --set model=small_cnn
              --set 'model_kwargs={width = 4, hidden = 16}' --set epochs=2 --set val_size=40 --set batch_size=32
              --set steps=1 --set val_steps=1 --n-test 40 --pgd-steps 2 --clean 0.0 --robust 0.0)
else
    RESULTS=${OUT:-benchmarks/results/h200}
    WORK=/tmp/mireg-issue11
    PACK=devcarry/cifar10-jpeg
    LIMITS=(15 30 215 120 100)  # sum 480 s = 8 minutes
    VS_ARGS=(--device cuda --model resnet18 --batch-size 512 --ref-batch-size 128 --steps 20 --warmup 5
             --attack-steps 10 --peak-tflops 790)
    PARITY_ARGS=(--device cuda --model resnet18 --ref-batch-size 128 --parity-images 12800 --parity-epochs 2
                 --attack-steps 10 --parity-n-test 2000)
    # test accuracy from epoch 11 of 15 on (one_cycle: the targets can only be met near the end); validation
    # accuracies (1,000 held-out images, PGD-10) draw the curve before that
    TTR_ARGS=(--recipe fast-at-resnet18 --clean 0.80 --robust 0.48 --pgd-steps 20 --eval-from 11 --max-minutes 3.4)
fi
mkdir -p "$RESULTS" "$WORK"
LOG=$RESULTS/issue11_session.log
START=$(date +%s)

step() {  # step NAME SECONDS COMMAND...: run under a hard limit, log it, carry on whatever happens
    local name=$1 limit=$2 t0 rc
    shift 2
    t0=$(date +%s)
    echo "=== $name: start at +$((t0 - START)) s, limit $limit s" | tee -a "$LOG"
    timeout --kill-after=10 "$limit" "$@" >>"$LOG" 2>&1
    rc=$?
    echo "=== $name: rc $rc after $(($(date +%s) - t0)) s$([ "$rc" = 124 ] && echo ' (TIMED OUT)')" | tee -a "$LOG"
}

env_report() {
    if [ "$DRY" = 0 ]; then nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv; fi
    "$PY" -c "import sys, torch, PIL, mireg, torchattacks; print(sys.version.split()[0], 'torch', torch.__version__,
'cuda', torch.cuda.is_available(), 'Pillow', PIL.__version__, 'torchattacks', torchattacks.__version__)"
    git log -1 --format='commit %H %s' 2>/dev/null || true
}

export -f env_report
export DRY PY
if [ "$DRY" = 1 ]; then
    "$PY" benchmarks/gpu/decode_cifar10_jpeg.py --make-sample "$PACK" --n 240 >>"$LOG" 2>&1
fi
step env "${LIMITS[0]}" bash -c env_report
step data "${LIMITS[1]}" "$PY" benchmarks/gpu/decode_cifar10_jpeg.py "$PACK" "$WORK/data" \
    --report "$RESULTS/cifar10_jpeg_decode.json"
step time_to_robustness "${LIMITS[2]}" "$PY" benchmarks/time_to_robustness.py "${TTR_ARGS[@]}" \
    --set "data_root=$WORK/data" --set "out_dir=$WORK/ttr_run" --out-dir "$RESULTS" \
    --name time_to_robustness_fast_at_resnet18
step vs_reference "${LIMITS[3]}" "$PY" benchmarks/vs_reference.py "${VS_ARGS[@]}" --dataset cifar10 \
    --data-root "$WORK/data" --out "$RESULTS/vs_reference_resnet18.json"
step parity "${LIMITS[4]}" "$PY" benchmarks/vs_reference.py --parity "${PARITY_ARGS[@]}" --dataset cifar10 \
    --data-root "$WORK/data" --out "$RESULTS/parity_resnet18.json"

echo "=== done after $(($(date +%s) - START)) s; results in $RESULTS:" | tee -a "$LOG"
ls -l "$RESULTS" | tee -a "$LOG"
