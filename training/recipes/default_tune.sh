#!/usr/bin/env bash
# Rebuilds models/default 0.6.0 from models/default 0.5.0 in two stages:
#   1. encoder and heads trained further with attention supervision, effort weighted up
#      (training/configs/default_tune.yaml), exported int8 to $STAGE1 (no gate: its heads were fitted on
#      fp32 states);
#   2. that int8 encoder frozen, every head retrained on its int8 states (training/configs/default_tune_heads.yaml),
# then exported int8 with the parity check, evaluated on held-out data with the baselines, long calls
# and evidence measured, and the card written with the changes since 0.5.0. Needs ../shared/data.
# RESUME=1 continues an interrupted training run; SKIP_STAGE1=1 reuses $STAGE1; SKIP_TRAIN=1 reuses $RUN/final;
# MODEL=DIR publishes elsewhere (keep the folder's name `default`, e.g. MODEL=runs/cand/default);
# BASELINES='--baseline tfidf_lr' skips the frozen-encoder baseline (33 min more).
set -euo pipefail
cd "$(dirname "$0")/../.."
RUN1=${RUN1:-runs/default-tune}
STAGE1=${STAGE1:-runs/default-tune-int8}
RUN=${RUN:-runs/default-tune-heads}
PARENT=${PARENT:-runs/default-0.5.0}
source training/recipes/lib.sh
parent_from_git f8304a5
train_two_stages training/configs/default_tune.yaml training/configs/default_tune_heads.yaml 0.6.0-stage1 default@0.5.0
publish_model "${MODEL:-models/default}" "${VERSION:-0.6.0}" default@0.5.0
