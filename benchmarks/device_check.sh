#!/usr/bin/env bash
# The accelerator check (issue #11, item 8): run it on a lent GPU machine.
#
# Here, once: `bash tools/device_wheels.sh` (Keras, keras-hub and what they
# need, as wheels in .whl/). Then with the device tool, from the repo root:
#   run(command="bash benchmarks/device_check.sh", carry=[".whl"], timeout_s=540)
# It writes JSON to $OUT (the device tool's folder), else to
# benchmarks/results/device/, and exits non-zero if a parity check fails.
#
# What it runs, for KERAS_BACKEND=jax and =torch (the image has no TensorFlow,
# and the package imports without it):
#   - benchmarks/device_parity.py: BERT-Base, ours vs transformers (float32,
#     TF32 off) at float32 and mixed_bfloat16, einsum and fused attention;
#   - benchmarks/precision.py: inference (batch 32 x 128) and the pretraining
#     train step (batch 8 x 128) at float32 and mixed_bfloat16, ours vs
#     keras-hub vs transformers on the GPU, interleaved, ratios per round.
# Each step has its own time limit; the whole check stays under 8 minutes.
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-benchmarks/results/device}
config=${DEVICE_CHECK_CONFIG:-base}  # `tiny`: a smoke run on a CPU
mkdir -p "$out"
if [ -d .whl ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir \
    --upgrade --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
nvidia-smi > "$out/nvidia_smi.txt" 2>&1
status=0
for backend in jax torch; do
  KERAS_BACKEND=$backend timeout 100 python3 benchmarks/device_parity.py \
    --config "$config" --out "$out/${backend}_device_parity.json" > "$out/${backend}_parity.log" 2>&1 \
    || { status=1; tail -5 "$out/${backend}_parity.log"; }
  KERAS_BACKEND=$backend timeout 130 python3 benchmarks/precision.py --config "$config" \
    --peers ours,keras_hub,transformers --rounds 5 \
    --out "$out/${backend}_device_precision.json" > "$out/${backend}_precision.log" 2>&1 \
    || { status=1; tail -5 "$out/${backend}_precision.log"; }
done
ls "$out"
exit $status
