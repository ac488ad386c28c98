# Sourced by the shipped-model recipes (through lib.sh's publish_model, or directly): held-out evaluation of
# $MODEL (default models/default) with baselines, long calls and evidence on the long-call set, merged into
# $RUN/metrics.json, then the card.
# Needs BIN, RUN, PUBLIC (array), SYNTH_TRAIN, SYNTH_TEST, SYNTH_LONG; CARD_ARGS (array) is optional.
MODEL=${MODEL:-models/default}
eval_args=(); for f in "${PUBLIC[@]}"; do eval_args+=(--data "$f"); done
train_args=(); for f in "${PUBLIC[@]}" "$SYNTH_TRAIN"; do train_args+=(--train "$f"); done
$BIN/convo-outcomes evaluate --model "$MODEL" --split test "${eval_args[@]}" --heldout "$SYNTH_TEST" \
  ${BASELINES:---baseline tfidf_lr --baseline frozen_lr} "${train_args[@]}" --json "$RUN/metrics_heldout.json"
$BIN/convo-outcomes evaluate --model "$MODEL" --heldout "$SYNTH_LONG" --json "$RUN/metrics_long.json"
# the card shows held-out metrics, plus long-call slices and evidence from the long-call set
$BIN/python - "$RUN" <<'PY'
import json, sys
run = sys.argv[1]
main = json.load(open(f"{run}/metrics_heldout.json"))
long = json.load(open(f"{run}/metrics_long.json"))
main["slices"], main["evidence"] = long["slices"], long["evidence"]
main["long_calls_data"] = long["data"]
json.dump(main, open(f"{run}/metrics.json", "w"), indent=2)
PY
$BIN/convo-outcomes card "$MODEL" --metrics "$RUN/metrics.json" "${CARD_ARGS[@]}"
