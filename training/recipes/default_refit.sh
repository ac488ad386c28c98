#!/usr/bin/env bash
# Rebuilds models/default 0.5.0 from models/default 0.4.0: its int8 encoder frozen and every head retrained
# on that encoder's states with STAR sampled 3x and 20% long generated calls
# (training/configs/default_refit.yaml), then exported int8 with the parity check, evaluated on held-out
# data with both baselines (the split of 0.2.0-0.4.0, so nothing it trained on is scored), long calls and
# evidence measured, and the card written with the changes since 0.4.0. Needs ../shared/data beside the
# checkout. About 65 min on 2 CPU cores (training 41.5, export with the parity check 12, evaluation 11),
# plus 33 min for the frozen-encoder baseline
# (BASELINES='--baseline tfidf_lr' skips it; the shipped 0.5.0 was evaluated that way, with MODEL=runs/cand/default
# first, then copied to models/default).
# RESUME=1 continues an interrupted training run; SKIP_TRAIN=1 reuses $RUN/final; MODEL=DIR publishes
# somewhere other than models/default (to compare a candidate before replacing the shipped model; the
# folder's name is the model's name, so keep it `default`, e.g. MODEL=runs/cand/default).
set -euo pipefail
cd "$(dirname "$0")/../.."
source training/recipes/lib.sh
rebuild_from_parent runs/default-refit runs/default-0.4.0 2bef430 training/configs/default_refit.yaml models/default 0.5.0 default@0.4.0
