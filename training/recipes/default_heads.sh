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
source training/recipes/lib.sh
parent_from_git 7333b84
if [ -z "${SKIP_TRAIN:-}" ]; then
  $BIN/convo-outcomes train --config training/configs/default_heads.yaml model.init_from="$PARENT" --output-dir "$RUN" ${RESUME:+--resume}
fi
publish_default "${VERSION:-0.3.0}" default@0.2.0
