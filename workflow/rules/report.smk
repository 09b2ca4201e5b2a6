# Summary tables, the trade-off plot, and the study of the paper's central claim.


rule report:
    input:
        # The per-run files, not the collected tables: the tables and the report are separate DVC stages.
        results=FILES.runs_of(MAIN, PLAN.main_seed()),
        pretrain=rules.pretrain_clip.output.metrics if PLAN.pretrains_clip() else [],
    output:
        summary=report("results/summary.md", caption="../report/summary.rst", category="Summary"),
        plot=report("results/tradeoff.png", caption="../report/tradeoff.rst", category="Trade-off"),
        # For DVC's metrics and plots commands (dvc.yaml: metrics, plots).
        metrics="results/metrics.json",
        points="results/tradeoff.csv",
    log:
        "logs/report.log",
    benchmark:
        "benchmarks/report.tsv"
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        spec=lambda wc, input: js(
            ARGS.report_spec(
                list(input.results),
                f"openvclip results: experiment `{MAIN}`, seed {PLAN.main_seed()}",
                pretrain_metrics=paths.PRETRAIN_METRICS if PLAN.pretrains_clip() else None,
            )
        ),
    shell:
        "openvclip report --spec {params.spec:q} --summary {output.summary} --plot {output.plot}"
        " --metrics {output.metrics} --points {output.points} > {log} 2>&1"


rule study_report:
    input:
        [paths.STUDY_TABLE.format(exp=e) for e in config["study"]],
    output:
        summary=report("results/study/summary.md", caption="../report/study.rst", category="Study"),
        plot=report("results/study/tradeoff.png", caption="../report/study.rst", category="Study"),
    log:
        "logs/study_report.log",
    benchmark:
        "benchmarks/study_report.tsv"
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        spec=lambda wc, input: js(
            ARGS.report_spec(
                list(input),
                "The central claim, tested: Open-VCLIP vs plain fine-tuning across interpolation ratios",
                config["study"],
                pretrain_metrics=paths.PRETRAIN_METRICS if PLAN.pretrains_clip() else None,
            )
        ),
    shell:
        "openvclip report --spec {params.spec:q} --summary {output.summary} --plot {output.plot} > {log} 2>&1"
