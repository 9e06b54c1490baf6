#!/usr/bin/env bash
# Train the two shipped cascades one stage after another and write weights/{accurate,fast}.{pt,onnx}.
# What was run for the shipped files (2 CPU cores, one training at a time, 1 torch thread each so that
# other work on the machine cannot stall it); the epochs are given on the command line here.
# Usage: bash train/presets.sh   (from the repository root, in the project's virtualenv)
set -euo pipefail
export OMP_NUM_THREADS=1
step() { echo "== $(date +%H:%M:%S) $*"; "$@"; }
# A stage already trained to its epochs is skipped; an interrupted one resumes.
train() {
  local name=$1; shift
  if [ -f "checkpoints/$name/last.pt" ]; then step python -m train "$name" threads=1 "$@" --resume
  else step python -m train "$name" threads=1 "$@"; fi
}
# Stage 1 ran a cosine schedule to 80 epochs, then was resumed to 140: the schedule is re-based on
# the new length, so the learning rate rises again (to 0.4 x its peak) and anneals a second time.
train Cas_Stage1_Aug_Wing epochs=80
train Cas_Stage1_Aug_Wing epochs=140
train Cas_Stage2_Aug_Wing-S1_Wing epochs=40
train fast_Stage1_Aug_Wing epochs=60
train fast_Stage1_Aug_Wing epochs=120
train fast_Stage1_Aug_Wing epochs=180
train fast_Stage2_Aug_Wing epochs=40
step facealign export checkpoints/Cas_Stage2_Aug_Wing-S1_Wing/best.pt --format torch --preset accurate -o weights/accurate.pt
step facealign export checkpoints/fast_Stage2_Aug_Wing/best.pt --format torch --preset fast -o weights/fast.pt
step facealign export weights/accurate.pt --format onnx --preset accurate
step facealign export weights/fast.pt --format onnx --preset fast
echo "== $(date +%H:%M:%S) done"
