#!/usr/bin/env bash
# Rebuilds models/default from scratch: train (about 90 min on 2 CPU cores; RESUME=1 continues after a
# crash), export int8 with the parity check, evaluate on held-out data with both baselines, write the card.
# Needs ../shared/data (the public conversations) beside the checkout.
set -euo pipefail
cd "$(dirname "$0")/../.."
export HF_HUB_OFFLINE=1
BIN=${BIN:-.venv/bin}
RUN=${RUN:-runs/default}
SHARED=${SHARED:-../shared/data}
PUBLIC=("$SHARED/star.jsonl" "$SHARED/multidogo.jsonl" "$SHARED/banking77.jsonl")
$BIN/convo-outcomes train --config training/configs/default.yaml --output-dir "$RUN" ${RESUME:+--resume}
SYNTH_TRAIN=$(ls "$RUN"/cache/synth-*.jsonl)
SYNTH_TEST=$RUN/synth-test.jsonl
# generated test data from a seed the model never trained on: all of it is held out
[ -f "$SYNTH_TEST" ] || $BIN/convo-outcomes data synth --n 1500 --seed 9001 --out "$SYNTH_TEST"
args=(); for f in "${PUBLIC[@]}" "$SYNTH_TRAIN"; do args+=(--validation "$f"); done
$BIN/convo-outcomes export --checkpoint "$RUN/final" --output models/default --quantize int8 "${args[@]}" --split validation
eval_args=(); for f in "${PUBLIC[@]}"; do eval_args+=(--data "$f"); done
train_args=(); for f in "${PUBLIC[@]}" "$SYNTH_TRAIN"; do train_args+=(--train "$f"); done
$BIN/convo-outcomes evaluate --model models/default --split test "${eval_args[@]}" --heldout "$SYNTH_TEST" \
  --baseline tfidf_lr --baseline frozen_lr "${train_args[@]}" --json "$RUN/metrics.json"
$BIN/convo-outcomes card models/default --metrics "$RUN/metrics.json"
