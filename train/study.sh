#!/usr/bin/env bash
# The study's raw baseline and a short slice of its sweeps, as far as 2 CPU cores allow in a session.
# Usage: bash train/study.sh   (from the repository root, in the project's virtualenv)
set -euo pipefail
export OMP_NUM_THREADS=1
step() { echo "== $(date +%H:%M:%S) $*"; "$@"; }
# raw ResNet-18 (full width, 128 px, no augmentation, MSE): 8 epochs, ~1.5 min each on one core
if [ -f checkpoints/raw_CNN_noAug_MSE/last.pt ]; then step python -m train raw_CNN_noAug_MSE epochs=8 threads=1 --resume
else step python -m train raw_CNN_noAug_MSE epochs=8 threads=1; fi
# the study's batch-size grid, one epoch on 256 faces each (a slice, not the study's budget)
step facealign sweep batch epochs=1 max_train=256 threads=1 --resume
step facealign report --evaluate --markdown logs/report.md
echo "== $(date +%H:%M:%S) done"
