#!/usr/bin/env bash
# Copies one finished seed of `snakemake study` from a run clone into results/published/study/ablation/seed<N>/, and
# prints the figures results/published/README.md records (per-step means, theta0's SHA-256, training CPU time).
#
#   bash results/published/record_seed.sh RUN_CLONE SEED
#
# Refuses (before copying anything) when any of the seed's 22 evaluations or 4 training runs is missing, so a
# half-finished seed never lands here.
set -euo pipefail

if [[ $# -ne 2 ]]; then
    echo "usage: bash results/published/record_seed.sh RUN_CLONE SEED   (e.g. /tmp/run1 1)" >&2
    exit 2
fi
run=$(cd "$1" && pwd)
seed=$2
here=$(cd "$(dirname "$0")" && pwd)
dest="$here/study/ablation/seed$seed"
variants_trained=(finetune finetune_no_temporal openvclip froster)
variants_evaluated=(frozen finetune finetune_no_temporal finetune_temporal_off openvclip_no_swa openvclip froster)
sets=(k400 ucf hmdb k600)
# The variants without temporal attention are evaluated on the closed set only (premise P4).
sets_of() { case $1 in finetune_no_temporal | finetune_temporal_off) echo k400 ;; *) echo "${sets[@]}" ;; esac; }

missing=()
for v in "${variants_evaluated[@]}"; do
    for s in $(sets_of "$v"); do
        for f in "results/runs/ablation/seed$seed/$v/$s.csv" "results/runs/ablation/seed$seed/$v/$s.csv.json"; do
            [[ -f "$run/$f" ]] || missing+=("$f")
        done
    done
done
for v in "${variants_trained[@]}"; do
    for f in "models/ablation/seed$seed/$v/train_log.csv" "models/ablation/seed$seed/$v/train_info.json"; do
        [[ -f "$run/$f" ]] || missing+=("$f")
    done
done
[[ -f "$run/models/clip/pretrain_metrics.json" ]] || missing+=("models/clip/pretrain_metrics.json")
if [[ ${#missing[@]} -gt 0 ]]; then
    echo "seed $seed is not finished in $run; missing:" >&2
    printf '  %s\n' "${missing[@]}" >&2
    exit 1
fi
if [[ -e "$dest" ]]; then
    echo "$dest exists already; remove it first if this seed is to be recorded again" >&2
    exit 1
fi

tmp="$dest.partial"
rm -rf "$tmp"
mkdir -p "$tmp/results" "$tmp/train" "$tmp/benchmarks"
for v in "${variants_evaluated[@]}"; do
    mkdir -p "$tmp/results/$v"
    cp "$run/results/runs/ablation/seed$seed/$v/"*.csv "$run/results/runs/ablation/seed$seed/$v/"*.csv.json \
        "$tmp/results/$v/"
done
for v in "${variants_trained[@]}"; do
    mkdir -p "$tmp/train/$v"
    gzip -n -c "$run/models/ablation/seed$seed/$v/train_log.csv" > "$tmp/train/$v/train_log.csv.gz"
    cp "$run/models/ablation/seed$seed/$v/train_info.json" "$tmp/train/$v/"
done
for rule in train_variant evaluate; do
    cp -r "$run/benchmarks/$rule/ablation/seed$seed" "$tmp/benchmarks/$rule"
done
cp "$run/models/clip/pretrain_metrics.json" "$tmp/"
mv "$tmp" "$dest"
echo "recorded seed $seed in $dest"

echo "theta0 SHA-256: $(sha256sum "$run/models/clip/theta0.safetensors" | cut -d' ' -f1)"
python - "$run" "$seed" <<'EOF'
import csv
import sys
from pathlib import Path

run, seed = Path(sys.argv[1]), sys.argv[2]
for variant in ("finetune", "openvclip", "froster"):
    with open(run / f"models/ablation/seed{seed}/{variant}/train_log.csv") as f:
        seconds = [float(row["seconds"]) for row in csv.DictReader(f)][50:]
    with open(run / f"benchmarks/train_variant/ablation/seed{seed}/{variant}.tsv") as f:
        bench = next(csv.DictReader(f, delimiter="\t"))
    print(
        f"{variant}: {sum(seconds) / len(seconds):.3f} s per step (steps 51 on, {len(seconds)} steps), "
        f"job wall {float(bench['s']) / 60:.0f} min, CPU {float(bench['cpu_time']) / 60:.0f} min"
    )
EOF
