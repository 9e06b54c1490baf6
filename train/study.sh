#!/usr/bin/env bash
# The study's four grids and its five cascade experiments (36 runs), each grid at one budget for all
# its cells, one training at a time, then the report (docs/study/results.json and the plots).
# Resumable: run it again (or after a stop) and finished cells are skipped, unfinished ones resumed.
# Usage: bash train/study.sh [GRID ...]   (from the repository root, in the project's virtualenv)
# Budgets (2 CPU cores): set EPOCHS, DEPTH_EPOCHS, CASCADE_EPOCHS, SIZE to change them.
set -euo pipefail
EPOCHS=${EPOCHS:-6}                  # batch, lr, wing_batch
DEPTH_EPOCHS=${DEPTH_EPOCHS:-3}      # depth_loss (ResNet-18 .. 152)
CASCADE_EPOCHS=${CASCADE_EPOCHS:-15}  # the five cascade experiments
SIZE=${SIZE:-64}                     # input size of every cell (the study's crops were larger)
OUT=${OUT:-study}
GRIDS=${*:-batch lr wing_batch depth_loss cascade}
source train/steps.sh
for grid in $GRIDS; do
  case $grid in
    depth_loss) epochs=$DEPTH_EPOCHS ;;
    cascade) epochs=$CASCADE_EPOCHS ;;
    *) epochs=$EPOCHS ;;
  esac
  step facealign sweep "$grid" epochs="$epochs" input_size="$SIZE" out="$OUT" --resume
done
step facealign report --out "$OUT" --json docs/study/results.json --plots docs/study --markdown "$OUT/report.md"
echo "== $(date +%H:%M:%S) done"
