#!/usr/bin/env bash
# Whole-source hold-out: trains training/configs/holdout_$SOURCE.yaml (the default data without that source),
# then scores the source's test split (the records the shipped models hold out, so the in-distribution
# figures in the README compare record for record) with TF-IDF fitted on the same training data beside it.
# SOURCE is multidogo (default) or star. Needs ../shared/data. About 30 min on 2 CPU cores. RESUME=1
# continues; SKIP_TRAIN=1 reuses $RUN/final; OVERRIDES adds dotted config overrides. The README's 700-step
# figures: this run, then RESUME=1 OVERRIDES='optim.max_steps=700 optim.max_minutes=100' (96 min in all).
set -euo pipefail
cd "$(dirname "$0")/../.."
SOURCE=${SOURCE:-multidogo}
RUN=${RUN:-runs/holdout-$SOURCE}
source training/recipes/lib.sh
CONFIG=training/configs/holdout_$SOURCE.yaml
[ -f "$CONFIG" ] || { echo "no hold-out config $CONFIG (SOURCE is multidogo or star)" >&2; exit 2; }
if [ -z "${SKIP_TRAIN:-}" ]; then
  $BIN/convo-outcomes train --config "$CONFIG" --output-dir "$RUN" ${RESUME:+--resume} ${OVERRIDES:-}
fi
train=()
for f in "${PUBLIC[@]}"; do [ "$f" = "$SHARED/$SOURCE.jsonl" ] || train+=(--train "$f"); done
$BIN/convo-outcomes evaluate --model "$RUN/final" --split test --data "$SHARED/$SOURCE.jsonl" \
  --baseline tfidf_lr "${train[@]}" --train "$(ls "$RUN"/cache/synth-*.jsonl)" --json "$RUN/metrics_$SOURCE.json"
