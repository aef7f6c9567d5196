#!/usr/bin/env bash
# The held-out-domain experiment's training on one GPU machine with 16 cores, in about 11 minutes:
#   A: scratch + 100 and scratch + 1,000 side by side (about 4 min);
#   B: the base minus pallet_stack (200 s);
#   C: the base fine-tuned with 10 / 50 / 100 / 200 images at two learning rates (about 3 min).
# (2026-12-04 it ran in two calls of the device tool: A beside a first B that failed at its end,
# then B and C; the results in the model card come from those runs.)
# Every run trains only (--train-only); then, on any machine, the same heldout arguments tune each
# run's grouping on the validation scenes and evaluate all of them (see the model card):
#   python -m ml.universal.train --config ml/universal/configs/heldout_pallet_stack.yaml \
#       --retune var/heldout/base_minus_pallet_stack.pt
#   python -m ml.experiments.universal.heldout --base var/heldout/base_minus_pallet_stack.pt \
#       --finetune 10 50 100 200 --finetune-steps 1000 --finetune-lrs 3e-4 1e-3 \
#       --scratch 100 1000 --scratch-steps 2000 4000 --json
# --run-budget caps each fine-tune at 90 s: with 10 images (one batch per epoch, the loader
# restarting every step) that ended base + 10 at about 300 of its 1,000 steps.
# Checkpoints and records are packed into $OUT (tar files under 16 MB each) when it is set.
set -uo pipefail
PY=${PYTHON:-python3}
W=var/heldout
OUT=${OUT:-$W/out}
mkdir -p "$OUT" "$W/logs"
H="$PY -m ml.experiments.universal.heldout --base $W/base_minus_pallet_stack.pt --device cuda --train-only --threads 1"
log() { echo "[$(date +%T)] $*"; }

log "smoke: 40 steps on the GPU"
$PY - <<'PY' || exit 1
import time, torch
from ml.universal.train import train
print(torch.__version__, torch.cuda.get_device_name(0), flush=True)
spec = {"synthetic": {"count": 320, "seed": 1, "domains": ["floor_pile"]}}
start = time.perf_counter()
r = train({"input_size": 384, "data": spec, "steps": 40, "out": "/tmp/smoke.pt", "device": "cuda",
           "precision": "auto", "num_workers": 14, "bn_recalibration_batches": 2})
print("smoke", r["steps"], "steps", r["train_seconds"], "s of training,", round(time.perf_counter() - start, 1), "s in all", flush=True)
PY
log "prepare"
$PY -m ml.experiments.universal.heldout --prepare --workers 16 || exit 1
log "phase A: scratch + 100 and scratch + 1,000"
$H --finetune --scratch 100 --scratch-steps 2000 --loader-workers 3 --run-budget 300 > $W/logs/scratch100.log 2>&1 &
$H --finetune --scratch 1000 --scratch-steps 4000 --loader-workers 3 --run-budget 300 > $W/logs/scratch1000.log 2>&1 &
wait
tail -n 2 $W/logs/scratch*.log
log "phase B: the base minus pallet_stack, alone (scene rendering takes 14 cores)"
$PY -m ml.universal.train --config ml/universal/configs/heldout_pallet_stack_gpu.yaml > $W/logs/base.log 2>&1
tail -n 2 $W/logs/base.log
tar cf "$OUT/phase_ab.tar" $W/base_minus_pallet_stack.pt $W/scratch_*
log "phase C: fine-tunes"
for n in 10 50 100 200; do
  $H --finetune $n --finetune-steps 1000 --finetune-lrs 3e-4 1e-3 --scratch --loader-workers 3 --run-budget 90 \
    > $W/logs/ft$n.log 2>&1 &
done
wait
tail -n 2 $W/logs/ft*.log
tar cf "$OUT/phase_c_lr3e-4.tar" $W/base_plus_*_lr0.0003.*
tar cf "$OUT/phase_c_lr1e-3.tar" $W/base_plus_*_lr0.001.*
tar cf "$OUT/logs.tar" $W/logs
cat $W/*.json
log "done"
