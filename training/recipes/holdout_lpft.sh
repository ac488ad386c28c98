#!/usr/bin/env bash
# LP-FT on the whole-source hold-out (development measurement, not a shipped model): first the heads
# alone on the frozen base encoder (one epoch; each window is encoded once and its states kept), then
# the whole model from those heads with the hold-out's usual 211 steps, scored on MultiDoGO by
# training/recipes/holdout.sh. The idea (Kumar et al., ICLR 2022, "Fine-tuning can distort pretrained
# features"): fresh heads send large gradients into the encoder early on; trained heads do not.
# Needs ../shared/data and up to 12 GB of memory for the kept states. About 30 to 40 min on 2 CPU cores
# (14 to 25 for the heads, 11 to 14 for the whole model, 3 to score). SEED picks the seed (the README's
# seed 13 ran this recipe; 14 and 15 the same steps by hand); RUN the output folder prefix.
set -euo pipefail
cd "$(dirname "$0")/../.."
SEED=${SEED:-14}
RUN=${RUN:-runs/holdout-lpft-s$SEED}
source training/recipes/lib.sh
if [ ! -d "$RUN-heads/final" ]; then
  $BIN/convo-outcomes train --config training/configs/holdout_multidogo.yaml --output-dir "$RUN-heads" \
    seed=$SEED optim.freeze_encoder=true optim.state_cache_gb=12 data.augment.customer_only=0.5 \
    optim.epochs=1 optim.max_steps=null optim.max_minutes=40
fi
RUN=$RUN OVERRIDES="seed=$SEED model.init_from=$RUN-heads/final data.augment.customer_only=0.5 optim.stop_after_steps=211 optim.max_minutes=70 ${OVERRIDES:-}" \
  training/recipes/holdout.sh
