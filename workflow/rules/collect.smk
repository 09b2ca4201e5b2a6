# Tidy result tables gathered from the evaluations: one per data set, one per variant, one per experiment.


rule collect_protocol:
    """results/{protocol}_{ds}.csv: every variant of the main experiment on one data set, all ratios."""
    input:
        lambda wc: FILES.runs_of(MAIN, PLAN.main_seed(), wc.ds),
    output:
        paths.PROTOCOL_TABLE,
    log:
        "logs/collect/{protocol}_{ds}.log",
    benchmark:
        "benchmarks/collect/{protocol}_{ds}.tsv"
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,
    shell:
        "openvclip collect --inputs {input} --out {output} > {log} 2>&1"


rule collect_sweep:
    """results/sweep_{variant}.csv: one variant of the main experiment, every data set and ratio."""
    input:
        lambda wc: [FILES.run_file(MAIN, PLAN.main_seed(), wc.variant, d) for d in PLAN.variant_datasets(wc.variant)],
    output:
        paths.SWEEP_TABLE,
    log:
        "logs/collect/sweep_{variant}.log",
    benchmark:
        "benchmarks/collect/sweep_{variant}.tsv"
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,
    shell:
        "openvclip collect --inputs {input} --out {output} > {log} 2>&1"


rule collect_experiment:
    """results/study/{exp}.csv: every variant, seed and data set of an experiment, with experiment/seed columns."""
    input:
        lambda wc: [f for s in EXPERIMENTS[wc.exp]["seeds"] for f in FILES.runs_of(wc.exp, s)],
    output:
        paths.STUDY_TABLE,
    log:
        "logs/collect/study_{exp}.log",
    benchmark:
        "benchmarks/collect/study_{exp}.tsv"
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,
    params:
        extra=lambda wc: js(
            [{"experiment": wc.exp, "seed": s} for s in EXPERIMENTS[wc.exp]["seeds"] for _ in FILES.runs_of(wc.exp, s)]
        ),
    shell:
        "openvclip collect --inputs {input} --extra {params.extra:q} --out {output} > {log} 2>&1"
