#!/usr/bin/env bash
# Rebuilds models/default 0.3.0 from models/default 0.2.0: the encoder frozen, every head retrained with
# attention supervision (training/configs/default_heads.yaml), exported int8 with the parity check,
# evaluated on held-out data with the TF-IDF baseline, long calls and evidence measured, card written
# with the changes since 0.2.0. Needs ../shared/data beside the checkout. About 40 min on 2 CPU cores.
# RESUME=1 continues an interrupted training run; SKIP_TRAIN=1 reuses $RUN/final; MODEL=DIR publishes elsewhere.
set -euo pipefail
cd "$(dirname "$0")/../.."
source training/recipes/lib.sh
rebuild_from_parent runs/default-heads runs/default-0.2.0 7333b84 training/configs/default_heads.yaml models/default 0.3.0 default@0.2.0
