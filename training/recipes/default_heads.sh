#!/usr/bin/env bash
# Rebuilds models/default 0.3.0 from models/default 0.2.0: the encoder frozen, every head retrained with
# attention supervision (training/configs/default_heads.yaml), exported int8 with the parity check,
# evaluated on held-out data with the TF-IDF baseline, long calls and evidence measured, card written
# with the changes since 0.2.0. Needs ../shared/data beside the checkout. About 40 min on 2 CPU cores.
# RESUME=1 continues an interrupted training run; SKIP_TRAIN=1 reuses $RUN/final.
set -euo pipefail
cd "$(dirname "$0")/../.."
export HF_HUB_OFFLINE=1
BIN=${BIN:-.venv/bin}
RUN=${RUN:-runs/default-heads}
SHARED=${SHARED:-../shared/data}
PARENT=${PARENT:-runs/default-0.2.0}
PUBLIC=("$SHARED/star.jsonl" "$SHARED/multidogo.jsonl" "$SHARED/banking77.jsonl")
# the parent, kept outside models/ (the new version replaces models/default)
if [ ! -d "$PARENT" ]; then
  mkdir -p "$PARENT" && git archive 7333b84 models/default | tar -x -C "$PARENT" --strip-components=2
fi
if [ -z "${SKIP_TRAIN:-}" ]; then
  $BIN/convo-outcomes train --config training/configs/default_heads.yaml model.init_from="$PARENT" --output-dir "$RUN" ${RESUME:+--resume}
fi
SYNTH_TRAIN=$(ls "$RUN"/cache/synth-*.jsonl)
SYNTH_TEST=runs/default/synth-test.jsonl
SYNTH_LONG=runs/default/synth-long.jsonl
mkdir -p runs/default
[ -f "$SYNTH_TEST" ] || $BIN/convo-outcomes data synth --n 1500 --seed 9001 --out "$SYNTH_TEST"
[ -f "$SYNTH_LONG" ] || $BIN/convo-outcomes data synth --n 400 --seed 9002 --long-share 0.45 --out "$SYNTH_LONG"

args=(); for f in "${PUBLIC[@]}" "$SYNTH_TRAIN"; do args+=(--validation "$f"); done
$BIN/convo-outcomes export --checkpoint "$RUN/final" --output models/default --quantize int8 --keep-fp32 score \
  --version ${VERSION:-0.3.0} --parent default@0.2.0 "${args[@]}" --split validation

CARD_ARGS=(--parent "$PARENT")
source training/recipes/evaluate_default.sh
