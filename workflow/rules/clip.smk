# theta0: the demo pretrains a small CLIP on synthetic still images; the paper configs fetch real weights.

if PLAN.pretrains_clip():

    rule pretrain_clip:
        output:
            weights="models/clip/theta0.safetensors",
            metrics="models/clip/pretrain_metrics.json",
        params:
            model=js(config["clip"]["model"]),
            world=js(config.get("world", {})),
            objects=js(config.get("objects", {})),
            pretrain=js(config["clip"].get("pretrain", {})),
            seed=config["seed"],
        conda:
            CONDA_ENV
        log:
            "logs/pretrain_clip.log",
        benchmark:
            "benchmarks/pretrain_clip.tsv"
        threads: PRETRAIN_THREADS
        resources:
            **PLAN.model_job_resources(mem_mb=4000, runtime=60),
        shell:
            "openvclip --threads {threads} pretrain-clip --model {params.model:q} --world {params.world:q}"
            " --objects {params.objects:q} --pretrain {params.pretrain:q} --seed {params.seed}"
            " --out {output.weights} --metrics {output.metrics} > {log} 2>&1"

else:

    rule fetch_clip:
        output:
            weights="models/clip/theta0.safetensors",
        params:
            model=js(config["clip"]["model"]),
        conda:
            CONDA_ENV
        log:
            "logs/fetch_clip.log",
        benchmark:
            "benchmarks/fetch_clip.tsv"
        threads: 1
        resources:
            mem_mb=4000,
            runtime=60,
        shell:
            "openvclip fetch-clip --model {params.model:q} --out {output.weights} > {log} 2>&1"
