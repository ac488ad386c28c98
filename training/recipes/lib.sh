# Sourced by the recipes (default.sh, default_heads.sh, default_encoder.sh, default_refit.sh, default_mass.sh,
# default_tune.sh, default_cause.sh, default_views.sh, default_industries.sh, default_wide.sh, default_wide_tune.sh, default_blend.sh, realtime.sh, realtime_refit.sh, realtime_blend.sh, holdout.sh, holdout_lpft.sh, outside.sh) after they cd to the checkout's root. Sets what they share: no hub, BIN (the venv's bin),
# SHARED (the public data, ../shared/data unless given) and PUBLIC (array of its JSONL files).
export HF_HUB_OFFLINE=1
BIN=${BIN:-.venv/bin}
SHARED=${SHARED:-../shared/data}
PUBLIC=("$SHARED/star.jsonl" "$SHARED/multidogo.jsonl" "$SHARED/banking77.jsonl")

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

# parent_from_git COMMIT [FOLDER]: extract FOLDER (models/default unless given) as it was at COMMIT into
# $PARENT (kept outside models/, since the new version replaces it), unless it is already there.
parent_from_git() {
  local folder=${2:-models/default}
  [ -d "$PARENT" ] || { mkdir -p "$PARENT" && git archive "$1" "$folder" | tar -x -C "$PARENT" --strip-components=2; }
}

# train_from_parent CONFIG: train CONFIG warm-started from $PARENT into $RUN (RESUME=1 continues;
# SKIP_TRAIN=1 skips it and reuses $RUN/final).
train_from_parent() {
  [ -n "${SKIP_TRAIN:-}" ] || $BIN/convo-outcomes train --config "$1" model.init_from="$PARENT" --output-dir "$RUN" ${RESUME:+--resume}
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

# train_two_stages CONFIG1 CONFIG2 STAGE1_VERSION PARENT_REF: stage 1 (encoder and heads, CONFIG1) trained
# from $PARENT into $RUN1 and exported int8 to $STAGE1, then stage 2 (CONFIG2: that int8 encoder frozen,
# every head retrained on its int8 states) trained from $STAGE1 into $RUN. No metric gate on the stage-1
# export: its heads were fitted on fp32 states, and quantizing the encoder under them costs points (0.4.0's
# stage 1: resolution 0.9376 -> 0.9088 validation macro-F1); stage 2 fits the heads on exactly these
# int8 states, and the final export is gated. SKIP_STAGE1=1 reuses $STAGE1; SKIP_TRAIN=1 skips both;
# RESUME=1 continues.
train_two_stages() {
  if [ -z "${SKIP_STAGE1:-}" ] && [ -z "${SKIP_TRAIN:-}" ]; then
    $BIN/convo-outcomes train --config "$1" model.init_from="$PARENT" --output-dir "$RUN1" ${RESUME:+--resume}
    $BIN/convo-outcomes export --checkpoint "$RUN1/final" --output "$STAGE1" --quantize int8 --keep-fp32 score \
      --version "$3" --parent "$4"
  fi
  if [ -z "${SKIP_TRAIN:-}" ]; then
    $BIN/convo-outcomes train --config "$2" model.init_from="$STAGE1" --output-dir "$RUN" ${RESUME:+--resume}
  fi
}

# rebuild_from_parent RUN PARENT COMMIT CONFIG MODEL VERSION PARENT_REF: the whole recipe of a version
# warm-started from an earlier shipped one: models/default as it was at COMMIT extracted into PARENT,
# CONFIG trained from it into RUN, then published to MODEL as VERSION with PARENT_REF as its parent.
# The environment's RUN, PARENT, MODEL and VERSION win over the arguments (a candidate folder, a
# re-run elsewhere); RESUME, SKIP_TRAIN and BASELINES pass through.
rebuild_from_parent() {
  RUN=${RUN:-$1}
  PARENT=${PARENT:-$2}
  parent_from_git "$3"
  train_from_parent "$4"
  publish_model "${MODEL:-$5}" "${VERSION:-$6}" "$7"
}

# publish_blend MODEL VERSION SYNTH_ARGS...: `convo-outcomes blend` of $PARENT with the public files and its
# generated training file (regenerated into $RUN with SYNTH_ARGS, the parent's data.synth), published to
# MODEL as VERSION, evaluated on held-out data with the baselines and carded with the changes since $PARENT.
# GUARD=FILE adds --guard-data FILE (more long calls for the long-call guard).
publish_blend() {
  local model=$1 version=$2; shift 2
  mkdir -p "$RUN"
  SYNTH_TRAIN=$RUN/synth-train.jsonl
  [ -f "$SYNTH_TRAIN" ] || $BIN/convo-outcomes data synth "$@" --out "$SYNTH_TRAIN"
  local data=() f
  for f in "${PUBLIC[@]}" "$SYNTH_TRAIN"; do data+=(--data "$f"); done
  rm -rf "$RUN/blended"
  $BIN/convo-outcomes blend --model "$PARENT" "${data[@]}" ${GUARD:+--guard-data "$GUARD"} --output "$RUN/blended" --version "$version"
  rm -rf "$model" && cp -r "$RUN/blended" "$model"
  MODEL=$model
  heldout_sets
  CARD_ARGS=(--parent "$PARENT")
  source training/recipes/evaluate_default.sh
}
