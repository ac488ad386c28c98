#!/usr/bin/env bash
# Whole-source hold-out: trains training/configs/holdout_multidogo.yaml (no MultiDoGO), then scores
# MultiDoGO's test split (the records the shipped models hold out, so the in-distribution figures in the
# README compare record for record) with TF-IDF fitted on the same training data beside it.
# Needs ../shared/data. About 30 min on 2 CPU cores. RESUME=1 continues; SKIP_TRAIN=1 reuses $RUN/final;
# OVERRIDES adds dotted config overrides. The README's 700-step figures: this run, then
# RESUME=1 OVERRIDES='optim.max_steps=700 optim.max_minutes=100' (96 min in all).
set -euo pipefail
cd "$(dirname "$0")/../.."
RUN=${RUN:-runs/holdout-multidogo}
source training/recipes/lib.sh
if [ -z "${SKIP_TRAIN:-}" ]; then
  $BIN/convo-outcomes train --config training/configs/holdout_multidogo.yaml --output-dir "$RUN" ${RESUME:+--resume} ${OVERRIDES:-}
fi
$BIN/convo-outcomes evaluate --model "$RUN/final" --split test --data "$SHARED/multidogo.jsonl" \
  --baseline tfidf_lr --train "$SHARED/star.jsonl" --train "$SHARED/banking77.jsonl" \
  --train "$(ls "$RUN"/cache/synth-*.jsonl)" --json "$RUN/metrics_multidogo.json"
