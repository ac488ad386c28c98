#!/usr/bin/env bash
# Rebuilds models/realtime 0.2.0 from models/realtime 0.1.0 (extracted from git into $PARENT): its int8
# encoder frozen and every head refitted on the int8 states the runtime computes now, one window per encoder
# call (0.1.0's heads were fitted on states of windows batched together), STAR sampled 6x
# (training/configs/realtime_refit.yaml); then exported int8 with the parity check, evaluated on held-out
# data with the baselines (the default model's split, so nothing it trained on is scored) and the card
# written with the changes since 0.1.0. Needs ../shared/data. RESUME=1 continues; SKIP_TRAIN=1 reuses
# $RUN/final; BASELINES='--baseline tfidf_lr' skips the frozen-encoder baseline.
set -euo pipefail
cd "$(dirname "$0")/../.."
source training/recipes/lib.sh
RUN=${RUN:-runs/realtime-refit}
PARENT=${PARENT:-runs/realtime-0.1.0}
parent_from_git 97fc572 models/realtime
train_from_parent training/configs/realtime_refit.yaml
publish_model "${MODEL:-models/realtime}" "${VERSION:-0.2.0}" realtime@0.1.0
