#!/usr/bin/env bash
# One prepared GPU check, for a machine with a CUDA GPU (minutes of its time): under 8 minutes it
#   1. measures a training step on CUDA (bench/train_step.py, ViT-B/16, fp16 autocast as the paper trains),
#   2. measures our temporal attention against the released construction on CUDA (bench/temporal_attention.py),
#   3. runs the demo workflow at test size on CUDA with mixed precision (train.amp auto -> fp16) and prints the
#      training logs' seconds per step,
# and prints every figure, the ratio lines last of each benchmark. Run from the repository root:
#   bash bench/gpu_check.sh
# A .whl/ folder of wheels the machine lacks, if there is one, is installed first.
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONUNBUFFERED=1
started=$(date +%s)
step() { echo; echo "=== $* ($(( $(date +%s) - started )) s)"; }

step "install"
if [ -d .whl ]; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
        && export PYTHONPATH=/tmp/site:${PYTHONPATH:-}
fi
# The package itself, without touching the machine's torch (no dependency resolution, nothing downloaded).
python3 -m pip install -q --no-deps --no-build-isolation -e . 2>/dev/null || export PYTHONPATH=$PWD:${PYTHONPATH:-}
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -m openvclip info

step "1. training step, ViT-B/16, 8 videos x 8 frames, fp16 autocast"
timeout 180 python3 bench/train_step.py --device cuda --preset vitb16 --batch 8 --repeats 6 --amp --threads 8

step "2. temporal attention, ViT-B/16 shapes"
timeout 120 python3 bench/temporal_attention.py --device cuda --preset vitb16

step "3. demo workflow (test size) on CUDA, mixed precision"
work=$(mktemp -d)
cp -r Snakefile workflow config "$work"/ && cp tests/fast_config.yaml "$work"/config.yaml
(cd "$work" && timeout 240 snakemake --cores 8 --config 'resources={threads: 4, gpus: 1}' all > snakemake.log 2>&1)
echo "snakemake exit code $? ($(( $(date +%s) - started )) s)"
for log in "$work"/models/main/seed0/*/train_log.csv; do
    [ -f "$log" ] || continue
    python3 - "$log" <<'PY'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1])))
if rows:
    print(f"{sys.argv[1].split('/')[-2]}: {len(rows)} steps, median {statistics.median(float(r['seconds']) for r in rows):.4f} s/step, "
          f"loss {rows[0]['loss']} -> {rows[-1]['loss']}")
PY
done
grep -h '"device"\|"amp"' "$work"/models/main/seed0/*/train_info.json 2>/dev/null | sort | uniq -c
tail -5 "$work"/results/summary.md 2>/dev/null
step "done"
