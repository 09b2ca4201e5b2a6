# Train each variant of an experiment and seed (the SWA average is kept by the training loop).


rule train_variant:
    input:
        theta0=paths.THETA0,
        videos=paths.TRAIN_INDEX.format(ds=TRAIN_SET),
        manifest=paths.MANIFEST.format(ds=TRAIN_SET),
        missing=paths.MISSING.format(ds=TRAIN_SET),
        text=lambda wc: FILES.text_file(wc.exp, TRAIN_SET, wc.variant),
    output:
        # Both weights files evaluation may read: swa.safetensors holds the SWA average, or says SWA was off.
        # model.safetensors is written last (after swa.safetensors and the log), so it marks a finished run.
        weights=paths.MODEL_WEIGHTS,
        swa=paths.SWA_WEIGHTS,
    log:
        paths.job_file("logs", "train_variant", paths.RUN),
    benchmark:
        paths.job_file("benchmarks", "train_variant", paths.RUN)
    conda:
        CONDA_ENV
    threads: THREADS
    resources:
        **RESOURCES.model_job(mem_mb=6000, runtime=24 * 60, gpus=lambda wc: RESOURCES.train_gpus(wc.variant)),
    params:
        model=js(config["clip"]["model"]),
        train=lambda wc: js(PLAN.train_settings(wc.exp, wc.seed, wc.variant)),
        temporal=temporal_flag,
        boundary=config["temporal"]["boundary"],
        column=lambda wc: PLAN.label_column(wc.exp, TRAIN_SET),
        max_unreadable=DATASETS[TRAIN_SET]["max_unreadable"],
        out_dir=paths.MODEL_DIR,
        launcher=lambda wc, resources: launcher(resources),
        threads=lambda wc, threads, resources: threads_per_process(threads, resources),
    shell:
        "{params.launcher} --threads {params.threads} train --model {params.model:q} --theta0 {input.theta0}"
        " {params.temporal} --boundary {params.boundary} --train {params.train:q} --videos {input.videos}"
        " --manifest {input.manifest} --text {input.text} --column {params.column}"
        " --max-unreadable {params.max_unreadable} --out-dir {params.out_dir} > {log} 2>&1"
