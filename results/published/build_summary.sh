#!/usr/bin/env bash
# Builds results/study/summary.md, ablation.csv and tradeoff.png in CLONE (a checkout of the commit the seeds ran
# on, installed) from the seeds recorded in results/published/study/ablation/, without retraining.
#
#   bash results/published/build_summary.sh CLONE PRETRAIN_SEED
#
# snakemake itself would retrain (the weights are not in git), so this runs the exact command lines that
# `snakemake -n -p results/study/summary.md` prints for the rules collect_experiment and study_report.
# The report's first table (the demo CLIP's pretraining) reads one seed's pretrain_metrics.json: PRETRAIN_SEED
# names which (theta0 differs between machines, see results/published/README.md).
set -euo pipefail

if [[ $# -ne 2 ]]; then
    echo "usage: bash results/published/build_summary.sh CLONE PRETRAIN_SEED   (e.g. /tmp/summary 0)" >&2
    exit 2
fi
here=$(cd "$(dirname "$0")" && pwd)
clone=$(cd "$1" && pwd)
pretrain="$here/study/ablation/seed$2/pretrain_metrics.json"
[[ -f "$pretrain" ]] || { echo "no recorded $pretrain" >&2; exit 1; }

cd "$clone"
mkdir -p results/runs/ablation models/clip logs/collect
for seed_dir in "$here"/study/ablation/seed*/; do
    seed=$(basename "$seed_dir")
    rm -rf "results/runs/ablation/$seed"
    cp -r "$seed_dir/results" "results/runs/ablation/$seed"
done
cp "$pretrain" models/clip/pretrain_metrics.json

dry_run=$(snakemake -n -p results/study/summary.md 2>&1)
for rule in collect_experiment study_report; do
    # The "Shell command:" line after the rule's header is the one to run; snakemake's own log redirection is kept.
    command=$(printf '%s\n' "$dry_run" | awk -v rule="rule $rule:" '
        $0 == rule { inside = 1 }
        inside && /^Shell command: / { sub(/^Shell command: /, ""); print; exit }')
    if [[ -z "$command" ]]; then
        echo "snakemake -n -p results/study/summary.md printed no shell command for rule $rule" >&2
        exit 1
    fi
    echo "running rule $rule"
    bash -c "$command"
done
echo "wrote $clone/results/study/summary.md, ablation.csv and tradeoff.png"
