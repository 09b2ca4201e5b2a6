# theta0: the demo pretrains a small CLIP on synthetic still images; the paper configs fetch real weights.

if PLAN.pretrains_clip():

    rule pretrain_clip:
        output:
            weights=paths.THETA0,
            metrics=paths.PRETRAIN_METRICS,
        log:
            "logs/pretrain_clip.log",
        benchmark:
            "benchmarks/pretrain_clip.tsv"
        conda:
            CONDA_ENV
        threads: PRETRAIN_THREADS
        resources:
            **RESOURCES.model_job(mem_mb=4000, runtime=60),
        params:
            model=js(config["clip"]["model"]),
            world=js(config.get("world", {})),
            objects=js(config.get("objects", {})),
            pretrain=js(config["clip"].get("pretrain", {})),
            seed=config["seed"],
        shell:
            "openvclip --threads {threads} pretrain-clip --model {params.model:q} --world {params.world:q}"
            " --objects {params.objects:q} --pretrain {params.pretrain:q} --seed {params.seed}"
            " --out {output.weights} --metrics {output.metrics} > {log} 2>&1"

else:

    rule fetch_clip:
        output:
            weights=paths.THETA0,
        log:
            "logs/fetch_clip.log",
        benchmark:
            "benchmarks/fetch_clip.tsv"
        conda:
            CONDA_ENV
        threads: 1
        resources:
            mem_mb=4000,
            runtime=60,
        params:
            model=js(config["clip"]["model"]),
        shell:
            "openvclip fetch-clip --model {params.model:q} --out {output.weights} > {log} 2>&1"
