# Sourced by the shipped-model recipes (default.sh, default_heads.sh, default_encoder.sh, realtime.sh).
# Needs BIN and PUBLIC (array of the public JSONL files).

# heldout_sets: generated test data from seeds no model trained on (all of it is held out):
# SYNTH_TEST (1,500 calls) and SYNTH_LONG (400 calls, 45% long).
heldout_sets() {
  SYNTH_TEST=${SYNTH_TEST:-runs/default/synth-test.jsonl}
  SYNTH_LONG=${SYNTH_LONG:-runs/default/synth-long.jsonl}
  mkdir -p "$(dirname "$SYNTH_TEST")" "$(dirname "$SYNTH_LONG")"
  [ -f "$SYNTH_TEST" ] || $BIN/convo-outcomes data synth --n 1500 --seed 9001 --out "$SYNTH_TEST"
  [ -f "$SYNTH_LONG" ] || $BIN/convo-outcomes data synth --n 400 --seed 9002 --long-share 0.45 --out "$SYNTH_LONG"
}

# export_validated RUN OUTPUT KEEP_FP32 VERSION [PARENT]: int8 export of RUN/final with the parity check on
# the validation split of the public files and RUN's generated training file.
export_validated() {
  local run=$1 output=$2 keep=$3 version=$4 parent=${5:-}
  local args=() f
  for f in "${PUBLIC[@]}" "$(ls "$run"/cache/synth-*.jsonl)"; do args+=(--validation "$f"); done
  $BIN/convo-outcomes export --checkpoint "$run/final" --output "$output" --quantize int8 --keep-fp32 "$keep" \
    --version "$version" ${parent:+--parent "$parent"} "${args[@]}" --split validation
}

# parent_from_git COMMIT: extract models/default as it was at COMMIT into $PARENT (kept outside models/,
# since the new version replaces models/default), unless it is already there.
parent_from_git() {
  [ -d "$PARENT" ] || { mkdir -p "$PARENT" && git archive "$1" models/default | tar -x -C "$PARENT" --strip-components=2; }
}

# publish_model MODEL VERSION PARENT_REF: export $RUN/final to MODEL (gated, --keep-fp32 score),
# evaluate it on held-out data and write its card with the changes since $PARENT.
publish_model() {
  MODEL=$1
  SYNTH_TRAIN=$(ls "$RUN"/cache/synth-*.jsonl)
  heldout_sets
  export_validated "$RUN" "$MODEL" score "$2" "$3"
  CARD_ARGS=(--parent "$PARENT")
  source training/recipes/evaluate_default.sh
}

publish_default() { publish_model models/default "$@"; }
