#!/usr/bin/env bash
# The training engine on an NVIDIA GPU (issue 10): the GPU tests, bf16 throughput of the accurate
# preset's stage 1 and stage 2 against float32, and the accurate stage 1 trained to its full
# schedule (250 epochs) with its wall time. Not run yet: no GPU has been lent to this work.
# Usage: DATA=/path/to/300w bash tools/gpu_train_check.sh   (repository root, `.[dev]` installed)
set -euo pipefail
DATA=${DATA:-../shared/data/300w}
step() { echo "== $(date +%H:%M:%S) $*"; "$@"; }
step python -m pytest -q -m gpu tests/test_train_engine.py
for amp in bf16 off; do
  step python -m train Cas_Stage1_Aug_Wing device=cuda amp=$amp channels_last=true --data "$DATA" --bench 100
  step python -m train Cas_Stage2_Aug_Wing-S1_Wing stage1=weights/accurate.pt device=cuda amp=$amp \
    channels_last=true --data "$DATA" --bench 100
done
start=$(date +%s)
step python -m train Cas_Stage1_Aug_Wing name=gpu_Cas_Stage1_Aug_Wing epochs=250 device=cuda amp=bf16 \
  channels_last=true --data "$DATA" --overwrite
echo "== accurate stage 1, 250 epochs: $(( $(date +%s) - start )) s wall time"
step facealign eval checkpoints/gpu_Cas_Stage1_Aug_Wing/best.pt --data "$DATA"
