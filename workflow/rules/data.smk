# Data: prepare (synthetic: render; real: fetch -> verify -> unpack -> parse annotations) -> manifest ->
# frames decoded once by decord into a store folder (evaluation), and the training split's videos re-encoded
# once for on-the-fly decoding (training).


rule prepare_dataset:
    output:
        manifest=paths.MANIFEST,
        classes=paths.CLASSES,
        missing=paths.MISSING,
    log:
        "logs/prepare_dataset/{ds}.log",
    benchmark:
        "benchmarks/prepare_dataset/{ds}.tsv"
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=lambda wc: RESOURCES.data_runtime(wc.ds, demo=30, real=24 * 60),
    params:
        dataset=lambda wc: js(DATASETS[wc.ds]),
        world=js(config.get("world", {})),
        objects=js(config.get("objects", {})),
        seed=config["seed"],
        # Downloads and unpacked files are not declared outputs: a failed job must not delete a half-done
        # 6 GB download (it resumes), and unpacking is atomic on its own.
        downloads="data/downloads/{ds}",
        raw="data/raw/{ds}",
    shell:
        "openvclip prepare --dataset {params.dataset:q} --name {wildcards.ds} --world {params.world:q}"
        " --objects {params.objects:q} --seed {params.seed} --downloads {params.downloads} --raw {params.raw}"
        " --manifest {output.manifest} > {log} 2>&1"


rule class_descriptions:
    input:
        manifest=paths.MANIFEST,
    output:
        directory(paths.DESCRIPTIONS),
    log:
        "logs/class_descriptions/{ds}.log",
    benchmark:
        "benchmarks/class_descriptions/{ds}.tsv"
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=1000,
        runtime=30,
    params:
        dataset=lambda wc: js(DATASETS[wc.ds]),
        downloads="data/downloads/{ds}/descriptions",
    shell:
        "openvclip descriptions --dataset {params.dataset:q} --name {wildcards.ds} --manifest {input.manifest}"
        " --downloads {params.downloads} --out {output} > {log} 2>&1"


rule extract_frames:
    input:
        manifest=paths.MANIFEST,
    output:
        directory(paths.FRAMES),
    log:
        "logs/extract_frames/{ds}.log",
    benchmark:
        "benchmarks/extract_frames/{ds}.tsv"
    conda:
        CONDA_ENV
    threads: lambda wc: RESOURCES.data_threads(wc.ds)
    resources:
        mem_mb=lambda wc, threads: 2000 + 500 * threads,
        runtime=lambda wc: RESOURCES.data_runtime(wc.ds, demo=60, real=24 * 60),
    params:
        frames=lambda wc: js(ARGS.frame_settings(wc.ds)),
    shell:
        "openvclip --threads {threads} frames --manifest {input.manifest} --out {output}"
        " --settings {params.frames:q} > {log} 2>&1"


rule train_videos:
    input:
        manifest=paths.MANIFEST,
    output:
        # The copies themselves (data/train_videos/{ds}/videos) are not a declared output: a killed job keeps
        # the finished ones and its rerun redoes only the rest. The index is written last.
        index=paths.TRAIN_INDEX,
    log:
        "logs/train_videos/{ds}.log",
    benchmark:
        "benchmarks/train_videos/{ds}.tsv"
    conda:
        CONDA_ENV
    threads: lambda wc: RESOURCES.data_threads(wc.ds)
    resources:
        mem_mb=lambda wc, threads: 1000 + 300 * threads,
        runtime=lambda wc: RESOURCES.data_runtime(wc.ds, demo=30, real=48 * 60),
    params:
        settings=js(config["train_videos"]),
        videos="data/train_videos/{ds}/videos",
    shell:
        "openvclip --threads {threads} train-videos --manifest {input.manifest} --videos {params.videos}"
        " --index {output.index} --settings {params.settings:q} > {log} 2>&1"


if OTHER_DATASETS:

    rule dataset_not_in_config:
        """Fails at once for a data set the active config does not define, naming the config that does."""
        input:
            lambda wc: dataset_not_in_config(wc.other, f"results/{wc.protocol}_{wc.other}.csv"),
        output:
            "results/{protocol}_{other}.csv",
        log:
            "logs/dataset_not_in_config/{protocol}_{other}.log",
        benchmark:
            "benchmarks/dataset_not_in_config/{protocol}_{other}.tsv"
        wildcard_constraints:
            other="|".join(OTHER_DATASETS),
        conda:
            CONDA_ENV
        threads: 1
        resources:
            mem_mb=100,
            runtime=1,
        shell:
            "false"
