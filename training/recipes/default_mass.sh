#!/usr/bin/env bash
# The mass-pooling experiment (training/configs/default_mass.yaml; not shipped, its result is in that
# file and the README): models/default 0.5.0's int8 encoder frozen and every head retrained on its
# states with the mass block, exported int8 with the parity check, evaluated on held-out data with
# both baselines (the split of 0.2.0-0.5.0), and the card written with the changes since 0.5.0.
# Needs ../shared/data beside the checkout. Training 63.4 min on 2 CPU cores, export with parity 14.
# Publish it as a candidate, not over the shipped model: MODEL=runs/cand/default (keep the folder's
# name `default`). RESUME=1 continues an interrupted training run; SKIP_TRAIN=1 reuses $RUN/final;
# BASELINES='--baseline tfidf_lr' skips the frozen-encoder baseline (over 33 min).
set -euo pipefail
cd "$(dirname "$0")/../.."
source training/recipes/lib.sh
rebuild_from_parent runs/default-mass runs/default-0.5.0 eb82064 training/configs/default_mass.yaml runs/cand/default 0.6.0-mass default@0.5.0
