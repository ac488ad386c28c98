#!/usr/bin/env bash
# Rebuilds models/default 0.7.0 from models/default 0.6.0 (extracted from git into $PARENT): the int8
# encoder and every head but contact_cause frozen, contact_cause refitted with STAR sampled 6x
# (training/configs/default_cause.yaml), then exported int8 with the parity check, evaluated on held-out
# data with the baselines, long calls and evidence measured, and the card written with the changes since
# 0.6.0. Needs ../shared/data. RESUME=1 continues; SKIP_TRAIN=1 reuses $RUN/final; MODEL=DIR publishes
# elsewhere (keep the folder's name `default`); BASELINES='--baseline tfidf_lr' skips the frozen-encoder
# baseline (33 min more on its first run; its embeddings are cached).
# 0.7.0 was trained on int8 states computed with windows batched together; training now encodes each
# window in its own call, as the runtime does, so a rebuild's states (and head) differ slightly.
set -euo pipefail
cd "$(dirname "$0")/../.."
source training/recipes/lib.sh
rebuild_from_parent runs/default-cause runs/default-0.6.0 a8ddf3d training/configs/default_cause.yaml \
  models/default 0.7.0 default@0.6.0
