#!/usr/bin/env bash
# Downloads the wheels benchmarks/device_check.sh installs on a lent GPU machine
# into .whl/ (git-ignored; the device tool carries it with `carry: [".whl"]`).
# The machine's image has JAX, PyTorch and transformers but neither Keras nor
# keras-hub (nor TensorFlow: the package imports without it, see README). The
# versions are this machine's, so both ends run the same Keras; the platform is
# the device image's (Python 3.12, x86-64 manylinux).
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .whl
for name in keras namex optree keras-hub kagglehub kagglesdk; do
  version=$(python -m pip show "$name" | sed -n 's/^Version: //p')
  python -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
    --implementation cp --platform manylinux_2_28_x86_64 \
    --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 -d .whl "$name==$version"
done
ls -la .whl
