# Shell helpers of the training scripts (presets.sh, pip_presets.sh, ablations.sh, study.sh): sourced, not run.
step() { echo "== $(date +%H:%M:%S) $*"; "$@" || { local rc=$?; echo "== $(date +%H:%M:%S) FAILED (exit $rc): $*"; return $rc; }; }
# train_run NAME CONFIG [key=value ...]: run NAME from CONFIG; resumed when checkpoints/NAME/last.pt exists
# (a run already trained to its epochs then stops at once, a longer epochs= continues it: a warm restart).
train_run() {
  local name=$1 config=$2; shift 2
  if [ -f "checkpoints/$name/last.pt" ]; then step python -m train "$config" name="$name" "$@" --resume
  else step python -m train "$config" name="$name" "$@"; fi
}
# evaluate_run NAME: checkpoints/NAME/best.pt on the common subset into logs/NAME/common.json, again
# whenever best.pt is newer than that file (a resumed run).
evaluate_run() {
  local json="logs/$1/common.json" best="checkpoints/$1/best.pt"
  [ "$json" -nt "$best" ] || step facealign eval "$best" --json "$json"
}
