#!/usr/bin/env bash
# The pilot that chose the study's training settings, on the DEVELOPMENT split only
# (ASDiv grades 4-6, disjoint from the test problems, ASDiv grades 1-3):
# one synthetic pool, students at 500 examples with two learning rates, greedy evals of each on the
# first 200 development problems, compared with each other (paired). The base model is not part of
# the pilot: it is evaluated once, on the test set, by the study itself.
#   MATHSYNTH_DATA_DIR=../shared/data bash docs/results/asdiv-cpu/pilot.sh [OUT]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
OUT="${1:-runs/asdiv-cpu-pilot}"
M="${MATHSYNTH:-mathsynth}"
DEV="asdiv:grade4-6"
EVAL=(--benchmark "$DEV" --limit 200 --temperature 0 --n 1 --max-tokens 256)
$M synth --recipe "$here/pilot-synth.yaml" --out "$OUT/synth"
for lr in 5e-5 2e-4; do
  $M train --recipe recipes/train-cpu.yaml --data "$OUT/synth/sft.jsonl" --limit 500 --epochs 1 \
      --learning-rate "$lr" --out "$OUT/student-lr$lr"
  $M eval --model "$OUT/student-lr$lr" "${EVAL[@]}" --prompt vicuna --out "$OUT/eval-lr$lr"
done
$M compare "$OUT/eval-lr5e-5" "$OUT/eval-lr2e-4"
