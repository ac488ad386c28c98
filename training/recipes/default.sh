#!/usr/bin/env bash
# Rebuilds models/default from scratch: train (about 60 min on 2 CPU cores; RESUME=1 continues after a
# crash), export int8 with the parity check, evaluate on held-out data with both baselines, measure long
# calls and evidence, write the card. Needs ../shared/data (the public conversations) beside the checkout.
# SKIP_TRAIN=1 reuses an existing $RUN/final.
set -euo pipefail
cd "$(dirname "$0")/../.."
RUN=${RUN:-runs/default}
source training/recipes/lib.sh
if [ -z "${SKIP_TRAIN:-}" ]; then
  $BIN/convo-outcomes train --config training/configs/default.yaml --output-dir "$RUN" ${RESUME:+--resume}
fi
SYNTH_TRAIN=$(ls "$RUN"/cache/synth-*.jsonl)
SYNTH_TEST=$RUN/synth-test.jsonl
SYNTH_LONG=$RUN/synth-long.jsonl
heldout_sets
export_validated "$RUN" models/default "${KEEP_FP32:-none}" "${VERSION:-0.2.0}"

CARD_ARGS=()
source training/recipes/evaluate_default.sh
