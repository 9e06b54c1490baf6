#!/usr/bin/env bash
# Train the two shipped cascades one stage after another and write weights/{accurate,fast}.{pt,onnx}.
# What was run for the shipped files (2 CPU cores, one training at a time); the epochs are given on
# the command line here. The first sessions trained with 1 torch thread so that other work on the
# machine could not stall the run; the last steps (from stage 1's epochs=250 / 260 on) with 2 threads,
# 1.4x faster per epoch with the machine otherwise idle. THREADS=1 bash train/presets.sh for the former.
# Usage: bash train/presets.sh   (from the repository root, in the project's virtualenv)
set -euo pipefail
THREADS=${THREADS:-2}
export OMP_NUM_THREADS=$THREADS
step() { echo "== $(date +%H:%M:%S) $*"; "$@"; }
# A stage already trained to its epochs is skipped; an interrupted one resumes.
train() {
  local name=$1; shift
  if [ -f "checkpoints/$name/last.pt" ]; then step python -m train "$name" threads="$THREADS" "$@" --resume
  else step python -m train "$name" threads="$THREADS" "$@"; fi
}
# Stage 2 again on a retrained stage 1, starting from the stage 2 trained before (kept as
# previous.pt): a run that was already fine-tuned this way resumes instead.
finetune() {
  local name=$1; shift
  local ck="checkpoints/$name"
  if python -c "import sys, torch; sys.exit(0 if torch.load(sys.argv[1], weights_only=False)['config']['init_from'] else 1)" "$ck/last.pt" 2>/dev/null
  then step python -m train "$name" threads="$THREADS" "$@" --resume
  else cp "$ck/best.pt" "$ck/previous.pt"; step python -m train "$name" threads="$THREADS" init_from="$ck/previous.pt" "$@"; fi
}
# Stage 1 ran a cosine schedule to 80 epochs, then was resumed to 140: the schedule is re-based on
# the new length, so the learning rate rises again (to 0.4 x its peak) and anneals a second time.
train Cas_Stage1_Aug_Wing epochs=80
train Cas_Stage1_Aug_Wing epochs=140
train Cas_Stage2_Aug_Wing-S1_Wing epochs=40
train Cas_Stage1_Aug_Wing epochs=250
finetune Cas_Stage2_Aug_Wing-S1_Wing epochs=40
train fast_Stage1_Aug_Wing epochs=60
train fast_Stage1_Aug_Wing epochs=120
train fast_Stage1_Aug_Wing epochs=180
train fast_Stage2_Aug_Wing epochs=40
train fast_Stage1_Aug_Wing epochs=260
finetune fast_Stage2_Aug_Wing epochs=40
step facealign export checkpoints/Cas_Stage2_Aug_Wing-S1_Wing/best.pt --format torch --preset accurate -o weights/accurate.pt
step facealign export checkpoints/fast_Stage2_Aug_Wing/best.pt --format torch --preset fast -o weights/fast.pt
step facealign export weights/accurate.pt --format onnx --preset accurate
step facealign export weights/fast.pt --format onnx --preset fast
echo "== $(date +%H:%M:%S) done"
