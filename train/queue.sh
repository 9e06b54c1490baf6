#!/usr/bin/env bash
# The compute queue: the trainings this machine owes, in order, one at a time. Run it in the background
# and run it again after any stop: a finished step is skipped, an interrupted training resumes.
#   nohup bash train/queue.sh > queue.log 2>&1 &      (from the repository root, in the project's virtualenv)
# The whole script is read before it starts (main), so editing it never disturbs a queue that runs.
# No `set -e`: a step that fails (a config refused, a crash) is reported in the log and the queue goes on to
# the next one, so the cores never sit idle behind it.
set -uo pipefail
main() {
  source train/steps.sh
  export PYTHONPATH=$PWD  # this checkout's code, also for `facealign eval`
  # 1. issue 19: which CPU settings train fastest (docs/training.md)
  [ -f logs/throughput.json ] || step python -m facealign.training.throughput --json logs/throughput.json --markdown logs/throughput.md
  # 2. ... and whether bf16 keeps the validation NME at equal epochs: the fast PIP stage 1, the first 6 epochs
  #    of a 12-epoch schedule each way (compared in logs/speed_pip_*/metrics.csv)
  for amp in off bf16; do
    csv="logs/speed_pip_$amp/metrics.csv" done_epochs=0
    [ ! -f "$csv" ] || done_epochs=$(($(wc -l < "$csv") - 1))
    [ "$done_epochs" -ge 6 ] || train_run "speed_pip_$amp" fast_Stage1_PIP_Aug_Wing epochs=12 channels_last=true \
      amp=$amp --stop-after $((6 - done_epochs))
  done
  # 3. issue 20: the accurate cascade with PIP heads
  #    (threads=1: on 2 shared cores one thread kept ~134 images/s beside test runs, where two threads fell
  #    to 7-20; docs/training.md)
  train_run accurate_Stage1_PIP_Aug_Wing accurate_Stage1_PIP_Aug_Wing amp="${AMP:-auto}" threads=1 epochs=120
  evaluate_run accurate_Stage1_PIP_Aug_Wing
  train_run accurate_Stage2_PIP_Aug_Wing accurate_Stage2_PIP_Aug_Wing amp="${AMP:-auto}" threads=1 epochs=40
  evaluate_run accurate_Stage2_PIP_Aug_Wing
  # 3b. issue 20's levers at equal epochs (docs/study.md's ablation table): stage 2 at 192 px (a 12 x 12 grid)
  #     against the shipped 160 px stage 2, same stage 1, recipe and 40 epochs
  train_run abl_acc_s2_pip192 accurate_Stage2_PIP_Aug_Wing input_size=192 amp="${AMP:-auto}" threads=1 epochs=40
  evaluate_run abl_acc_s2_pip192
  # 3c. issue 21's lever for the accurate preset's speed: its stage 2 at 128 px (an 8 x 8 grid, fast's stage-2
  #     input; 0.64x the pixels of the shipped 160 px), same stage 1, recipe and 40 epochs
  train_run abl_acc_s2_pip128 accurate_Stage2_PIP_Aug_Wing input_size=128 amp="${AMP:-auto}" threads=1 epochs=40
  evaluate_run abl_acc_s2_pip128
  # 3e. issue 21's lever for the shake: the fast preset's stage 2 fine-tuned from the shipped one for 30 epochs
  #     with two views of each face and their disagreement in the loss (training/consistency.py), against the
  #     same fine-tune without it (the control)
  for c in 0 0.1 0.3; do
    name="ft_fast_s2_cons${c/./}"
    train_run "$name" fast_Stage2_PIP_Aug_Wing stage1=weights/fast.pt init_from=weights/fast.pt init_from_stage1=false \
      consistency=$c epochs=30 lr=3e-4 amp="${AMP:-auto}" threads=1
    evaluate_run "$name"
  done
  # 3f. issue 21's lever for speed: stage 2 with the stride-4 stem (models/resnet.py: the 7x7 conv at stride 4,
  #     no max pool, a quarter of the stem's work), fine-tuned from the shipped stage 2 (the same weights fit) for
  #     30 epochs; fast's control is ft_fast_s2_cons0 above (the same fine-tune with the shipped stem)
  train_run ft_fast_s2_stride4 fast_Stage2_PIP_Aug_Wing stage1=weights/fast.pt init_from=weights/fast.pt \
    init_from_stage1=false stem=stride4 epochs=30 lr=3e-4 amp="${AMP:-auto}" threads=1
  evaluate_run ft_fast_s2_stride4
  #     (accurate: 30 epochs gave common 3.230, above issue 20's 3.2; resumed to 60, a second cosine cycle)
  train_run ft_acc_s2_stride4 accurate_Stage2_PIP_Aug_Wing stage1=weights/accurate.pt init_from=weights/accurate.pt \
    init_from_stage1=false stem=stride4 epochs=60 lr=3e-4 amp="${AMP:-auto}" threads=1
  evaluate_run ft_acc_s2_stride4
  # 3g. the same at a quarter of the second view's move (consistency_move=0.25: nearer a tracked crop's own
  #     frame-to-frame wander), fast; then the consistency lever on the accurate preset (its stage 2 fine-tuned as in 3e, weight 0.1)
  train_run ft_fast_s2_cons01_move025 fast_Stage2_PIP_Aug_Wing stage1=weights/fast.pt init_from=weights/fast.pt \
    init_from_stage1=false consistency=0.1 consistency_move=0.25 epochs=30 lr=3e-4 amp="${AMP:-auto}" threads=1
  evaluate_run ft_fast_s2_cons01_move025
  train_run ft_fast_s2_cons03_move025 fast_Stage2_PIP_Aug_Wing stage1=weights/fast.pt init_from=weights/fast.pt \
    init_from_stage1=false consistency=0.3 consistency_move=0.25 epochs=30 lr=3e-4 amp="${AMP:-auto}" threads=1
  evaluate_run ft_fast_s2_cons03_move025
  #     (accurate: weight 0.1 at a quarter of the move, the better trade on fast)
  train_run ft_acc_s2_cons01_move025 accurate_Stage2_PIP_Aug_Wing stage1=weights/accurate.pt \
    init_from=weights/accurate.pt init_from_stage1=false consistency=0.1 consistency_move=0.25 epochs=30 lr=3e-4 \
    amp="${AMP:-auto}" threads=1
  evaluate_run ft_acc_s2_cons01_move025
  # 4. issue 19: the study at its own budget (20 epochs, 64 px, seeds 0,1,2; about 21 CPU-hours in all by
  #    `facealign sweep GRID ... --dry-run`): resumed where it stopped, session after session
  SEEDS=0,1,2 EPOCHS=20 SIZE=64 OUT=study20 THREADS=1 bash train/study.sh
  echo "== $(date +%H:%M:%S) queue done"
}
main "$@"; exit
