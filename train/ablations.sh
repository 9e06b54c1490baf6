#!/usr/bin/env bash
# Issue 14's ablations at equal epochs, one run at a time, EMA on (the default) unless a row says otherwise.
#   stage 2: today's stage 2 against the one that sees stage 1's points (a heatmap channel), on the
#            shipped accurate stage 1 (weights/accurate.pt);
#   stage 1: the fast preset's stage 1 (quarter-width ResNet-18, 96 px) with its flatten head, the
#            same without EMA, and with a PIP head.
# Usage: EPOCHS=30 S1_EPOCHS=50 bash train/ablations.sh [stage1|stage2]   (from the repository root)
set -euo pipefail
EPOCHS=${EPOCHS:-30}
S1_EPOCHS=${S1_EPOCHS:-50}
WHICH=${1:-all}
source train/steps.sh
train() { train_run "$1" "$3" epochs="$2" "${@:4}" && evaluate_run "$1"; }  # NAME EPOCHS CONFIG [key=value ...]
if [ "$WHICH" != stage1 ]; then
  train abl_s2_today "$EPOCHS" Cas_Stage2_Aug_Wing-S1_Wing stage1=weights/accurate.pt
  train abl_s2_heatmap "$EPOCHS" Cas_Stage2_Heatmap_Aug_Wing-S1_Wing stage1=weights/accurate.pt
fi
if [ "$WHICH" != stage2 ]; then
  train abl_s1_flatten "$S1_EPOCHS" fast_Stage1_Aug_Wing
  train abl_s1_pip "$S1_EPOCHS" fast_Stage1_Aug_Wing head=pip head_options.stride=16 head_options.neighbours=10
  train abl_s1_flatten_noema "$S1_EPOCHS" fast_Stage1_Aug_Wing ema=0
fi
echo "== $(date +%H:%M:%S) done"
