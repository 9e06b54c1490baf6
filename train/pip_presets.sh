#!/usr/bin/env bash
# Issue 14: the fast cascade with PIP heads. Stage 1 continues the 50-epoch ablation run abl_s1_pip
# (train/ablations.sh) for 150 more epochs (a warm restart), then stage 2 on it; each evaluated.
# Usage: bash train/pip_presets.sh   (from the repository root, in the project's virtualenv)
set -euo pipefail
source train/steps.sh
train() { train_run "$1" "$1" "${@:2}" && evaluate_run "$1"; }
train fast_Stage1_PIP_Aug_Wing init_from=checkpoints/abl_s1_pip/best.pt
train fast_Stage2_PIP_Aug_Wing
echo "== $(date +%H:%M:%S) done"
