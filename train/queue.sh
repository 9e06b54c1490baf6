#!/usr/bin/env bash
# The compute queue: the trainings this machine owes, in order, one at a time. Run it in the background
# and run it again after any stop: a finished step is skipped, an interrupted training resumes.
#   nohup bash train/queue.sh > queue.log 2>&1 &      (from the repository root, in the project's virtualenv)
#   UNTIL=19:40 nohup bash train/queue.sh ...          (a session that ends at a known hour: only the runs that
#                                                       end by then start, study.sh's UNTIL; nothing half-trained is lost)
# The whole script is read before it starts (main), so editing it never disturbs a queue that runs.
# No `set -e`: a step that fails (a config refused, a crash) is reported in the log and the queue goes on to
# the next one, so the cores never sit idle behind it.
set -uo pipefail
main() {
  source train/steps.sh
  export PYTHONPATH=$PWD  # this checkout's code, also for `facealign eval`
  # Done and written up (the figures stand in the docs; the logs of 1-3f went with a machine lost on
  # 2026-12-02, the shipped runs' metrics.csv are in docs/training/), as they ran, with C = amp=auto threads=1 and FT = init_from_stage1=false epochs=30 lr=3e-4:
  #  1. the CPU training settings: python -m facealign.training.throughput (docs/training.md)
  #  2. bf16 at equal epochs: fast_Stage1_PIP_Aug_Wing epochs=12 channels_last=true amp=off|bf16 --stop-after 6
  #  3. the accurate PIP cascade: accurate_Stage1_PIP_Aug_Wing C epochs=120, then accurate_Stage2_PIP_Aug_Wing C
  #     epochs=40 (weights/accurate.*, before its stage 2 was fine-tuned in 3g)
  #  3b/3c. accurate_Stage2_PIP_Aug_Wing input_size=192 / input_size=128 C epochs=40 (docs/ablations.md, docs/speed.md)
  #  3e. fast_Stage2_PIP_Aug_Wing stage1=weights/fast.pt init_from=weights/fast.pt FT consistency=0 / 0.1 / 0.3 C
  #  3f. the same with stem=stride4 (fast 30 epochs; accurate's stage 2, from weights/accurate.pt, 60) (docs/speed.md)
  #  3g. the same as 3e at consistency=0.1 / 0.3 with consistency_move=0.25: fast, then accurate's stage 2
  #      (stage1= and init_from= weights/accurate.pt as it was before; weight 0.1 shipped) (docs/video.md)
  #  3h. fast at consistency=0.1 consistency_move=0.1 and consistency=0.05 consistency_move=0.25 (the latter
  #      shipped, its last epoch) (docs/video.md, weights/README.md)
  # (each `python -m train CONFIG name=NAME ...`; 3e-3h evaluated with `facealign eval checkpoints/NAME/best.pt`)
  #  4. issue 19: the study at its own budget, 20 epochs, 64 px, seeds 0,1,2 (docs/study.md; 84 runs, 17.5 h
  #     of training over 2026-12-02..04, each kept in docs/study/runs/ as it finished):
  #     SEEDS=0,1,2 EPOCHS=20 SIZE=64 OUT=study20 THREADS=0 bash train/study.sh cascade batch wing_batch batch_steps lr depth_loss
  #  5. ResNet-18's depth_loss cells at seeds 1 and 2 (MSE's are the batch grid's batch 32 runs, copied):
  #     facealign sweep depth_loss epochs=20 input_size=64 threads=0 out=study20 --seeds 1,2 --cell sweep_depth_loss_resnet18_mse
  #       --cell sweep_depth_loss_resnet18_l1 --cell sweep_depth_loss_resnet18_smoothl1 --resume --keep docs/study/runs
  # Pending: nothing. The next training an issue asks for goes here, as a `step` line.
  echo "== $(date +%H:%M:%S) queue done"
}
main "$@"; exit
