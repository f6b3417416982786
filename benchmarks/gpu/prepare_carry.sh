#!/usr/bin/env bash
# Fill devcarry/ (git-ignored) with what benchmarks/gpu/h200_session.sh needs on the GPU machine:
#   devcarry/cifar10-jpeg/{train,test}.npz   the CIFAR-10 JPEG pack (about 54 MiB)
#   devcarry/site/                           torchattacks 3.5.1 and pyautoattack 0.2.0, unpacked (no examples)
# The GPU machine has no registry access and lacks these two packages; `import mireg` needs both.
#
#   bash benchmarks/gpu/prepare_carry.sh FOLDER_WITH_train.npz_AND_test.npz
set -euo pipefail
SRC=${1:?usage: prepare_carry.sh FOLDER_WITH_train.npz_AND_test.npz}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
DEST=$ROOT/devcarry
PY=${PYTHON:-python3}
mkdir -p "$DEST/cifar10-jpeg" "$DEST/site"
cp "$SRC/train.npz" "$SRC/test.npz" "$DEST/cifar10-jpeg/"
TMP=$(mktemp -d)
"$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux2014_x86_64 -d "$TMP" torchattacks==3.5.1 pyautoattack==0.2.0
for wheel in "$TMP"/*.whl; do
    # pyautoattack's wheel carries a 45 MB example model: leave it out to stay under the 64 MiB carry limit
    "$PY" -m zipfile -e "$wheel" "$DEST/site"
done
rm -rf "$DEST/site/pyautoattack/examples" "$TMP"
git -C "$ROOT" check-ignore -q devcarry || echo "warning: devcarry/ is not git-ignored; it would travel twice" >&2
du -sh "$DEST"
