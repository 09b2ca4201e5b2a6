# Sweep the test-time interpolation ratio and score each data set (collect.smk gathers the results).


rule evaluate:
    input:
        theta0=paths.THETA0,
        weights=lambda wc: FILES.weights_file(wc.exp, wc.seed, wc.variant),
        frames=paths.FRAMES,
        manifest=paths.MANIFEST,
        missing=paths.MISSING,
        text=lambda wc: FILES.text_file(wc.exp, wc.ds, wc.variant),
    output:
        paths.RESULT,
    log:
        paths.job_file("logs", "evaluate", f"{paths.RUN}/{{ds}}"),
    benchmark:
        paths.job_file("benchmarks", "evaluate", f"{paths.RUN}/{{ds}}")
    conda:
        CONDA_ENV
    threads: THREADS
    resources:
        **RESOURCES.model_job(mem_mb=4000, runtime=120, gpus=min(RESOURCES.gpus(), 1)),
    params:
        model=js(config["clip"]["model"]),
        temporal=temporal_flag,
        boundary=config["temporal"]["boundary"],
        ratios=lambda wc: js(PLAN.ratios(wc.variant)),
        sets=lambda wc, input: js([ARGS.eval_set(wc.exp, wc.ds, input.frames, input.manifest, input.text)]),
        hash_of=lambda wc: js(ARGS.result_hash_of(wc.exp, wc.seed, wc.variant, wc.ds)),
        batch=config["eval"]["batch_size"],
    shell:
        # Lower CPU priority: on a laptop, evaluations fill the cycles the training jobs (the critical path)
        # leave free instead of slowing them down; on a cluster each job has its own cores and it changes nothing.
        "nice -n 10 openvclip --threads {threads} evaluate --model {params.model:q} --theta0 {input.theta0}"
        " --weights {input.weights} {params.temporal} --boundary {params.boundary} --ratios {params.ratios:q}"
        " --sets {params.sets:q} --variant {wildcards.variant} --hash-of {params.hash_of:q}"
        " --batch-size {params.batch} --out {output} > {log} 2>&1"
