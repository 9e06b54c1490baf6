#!/usr/bin/env bash
# Train the two shipped cascades one stage after another and write weights/{accurate,fast}.{pt,onnx}.
# What was run for the shipped files (2 CPU cores, one training at a time); the epochs are given on
# the command line here. The first sessions trained with 1 torch thread so that other work on the
# machine could not stall the run; the last steps (from stage 1's epochs=250 / 260 on) with 2 threads,
# 1.4-1.7x faster per epoch with the machine otherwise idle. THREADS=1 bash train/presets.sh for the former.
# Usage: bash train/presets.sh   (from the repository root, in the project's virtualenv)
set -euo pipefail
THREADS=${THREADS:-2}
export OMP_NUM_THREADS=$THREADS
source train/steps.sh
# A stage already trained to its epochs is skipped; an interrupted one resumes.
train() { train_run "$1" "$1" threads="$THREADS" "${@:2}"; }
# Stage 1 ran a cosine schedule to 80 epochs, then was resumed to 140 and to 250: the schedule is re-based on
# the new length each time, so the learning rate rises again and anneals once more (a warm restart).
train Cas_Stage1_Aug_Wing epochs=80
train Cas_Stage1_Aug_Wing epochs=140
train Cas_Stage1_Aug_Wing epochs=250
# Stage 2 (160 px, from stage 1's backbone) on the final stage 1, 32 epochs and a warm restart to 52.
train Cas_Stage2_Aug_Wing-S1_Wing epochs=32
train Cas_Stage2_Aug_Wing-S1_Wing epochs=52
train fast_Stage1_Aug_Wing epochs=60
train fast_Stage1_Aug_Wing epochs=120
train fast_Stage1_Aug_Wing epochs=180
train fast_Stage1_Aug_Wing epochs=260
# Stage 2 (128 px, from stage 1's backbone), 40 epochs and a warm restart to 70.
train fast_Stage2_Aug_Wing epochs=40
train fast_Stage2_Aug_Wing epochs=70
step facealign export checkpoints/Cas_Stage2_Aug_Wing-S1_Wing/best.pt --format torch --preset accurate -o weights/accurate.pt --overwrite
step facealign export checkpoints/fast_Stage2_Aug_Wing/best.pt --format torch --preset fast -o weights/fast.pt --overwrite
step facealign export weights/accurate.pt --format onnx --preset accurate --overwrite
step facealign export weights/fast.pt --format onnx --preset fast --overwrite
echo "== $(date +%H:%M:%S) done"
