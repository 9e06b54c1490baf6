#!/usr/bin/env bash
# Issue 14's stage-2 ablation: today's stage 2 against the one that sees stage 1's points, at equal
# epochs, on the shipped accurate stage 1 (weights/accurate.pt), EMA on (the default), one run at a time.
# Usage: EPOCHS=30 bash train/ablations.sh   (from the repository root, in the project's virtualenv)
set -euo pipefail
EPOCHS=${EPOCHS:-30}
step() { echo "== $(date +%H:%M:%S) $*"; "$@"; }
train() {
  local name=$1; shift
  if [ -f "checkpoints/$name/last.pt" ]; then step python -m train "$@" name="$name" epochs="$EPOCHS" --resume
  else step python -m train "$@" name="$name" epochs="$EPOCHS"; fi
}
train abl_s2_today Cas_Stage2_Aug_Wing-S1_Wing stage1=weights/accurate.pt
train abl_s2_heatmap Cas_Stage2_Heatmap_Aug_Wing-S1_Wing stage1=weights/accurate.pt
for name in abl_s2_today abl_s2_heatmap; do
  step facealign eval "checkpoints/$name/best.pt" --json "logs/$name/common.json"
done
echo "== $(date +%H:%M:%S) done"
