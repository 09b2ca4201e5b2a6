# Data: prepare (synthetic: render; real: fetch -> verify -> unpack -> parse annotations) -> manifest ->
# frames decoded once by decord into a store folder (evaluation), and the training split's videos re-encoded
# once for on-the-fly decoding (training). A set fetched from URL lists (Kinetics) is cut into shards
# (openvclip/data/shards.py): its plan is a checkpoint, and each stage runs one job per shard before the job that
# gathers them (prepare_dataset, extract_frames, train_videos: the same commands as unsharded, which find the
# shards' work done).


checkpoint plan_shards:
    output:
        paths.SHARD_PLAN,
    log:
        "logs/plan_shards/{ds}.log",
    benchmark:
        "benchmarks/plan_shards/{ds}.tsv"
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=500,
        runtime=30,
    params:
        dataset=lambda wc: js(DATASETS[wc.ds]),
        archives=config["shards"]["archives_per_job"],
        downloads="data/downloads/{ds}",
    shell:
        "openvclip plan-shards --dataset {params.dataset:q} --name {wildcards.ds} --downloads {params.downloads}"
        " --archives-per-job {params.archives} --out {output} > {log} 2>&1"


rule fetch_shard:
    input:
        plan=paths.SHARD_PLAN,
    output:
        paths.FETCHED_SHARD,
    log:
        "logs/fetch_shard/{ds}/{shard}.log",
    benchmark:
        "benchmarks/fetch_shard/{ds}/{shard}.tsv"
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=4 * 60,
        downloads=config["shards"]["downloads_at_once"],
    params:
        dataset=lambda wc: js(DATASETS[wc.ds]),
        # Not declared outputs, as for prepare_dataset: a failed job keeps its finished downloads and unpacking.
        downloads="data/downloads/{ds}",
        raw="data/raw/{ds}",
    shell:
        "openvclip fetch-shard --dataset {params.dataset:q} --name {wildcards.ds} --plan {input.plan}"
        " --shard {wildcards.shard} --downloads {params.downloads} --raw {params.raw}"
        " --downloads-at-once {resources.downloads} --out {output} > {log} 2>&1"


rule prepare_dataset:
    input:
        plan=shard_plan,
        shards=shard_files(paths.FETCHED_SHARD),
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
        downloads=config["shards"]["downloads_at_once"],
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
        " --manifest {output.manifest} --downloads-at-once {resources.downloads} > {log} 2>&1"


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


rule extract_frames_part:
    input:
        manifest=paths.MANIFEST,
        plan=paths.SHARD_PLAN,
    output:
        paths.FRAMES_PART,
    log:
        "logs/extract_frames_part/{ds}/{shard}.log",
    benchmark:
        "benchmarks/extract_frames_part/{ds}/{shard}.tsv"
    conda:
        CONDA_ENV
    threads: lambda wc: RESOURCES.data_threads(wc.ds)
    resources:
        mem_mb=lambda wc, threads: 2000 + 500 * threads,
        runtime=3 * 60,
    params:
        frames=lambda wc: js(ARGS.frame_settings(wc.ds)),
        parts=lambda wc, input: shard_count_of(input.plan),
        store=paths.FRAMES,
    shell:
        "openvclip --threads {threads} frames --manifest {input.manifest} --out {params.store}"
        " --settings {params.frames:q} --part {wildcards.shard}/{params.parts} --record {output} > {log} 2>&1"


rule extract_frames:
    input:
        manifest=paths.MANIFEST,
        plan=shard_plan,
        parts=shard_files(paths.FRAMES_PART),
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
        # With parts, their shards are in place: this job checks them and assembles the store.
        "openvclip --threads {threads} frames --manifest {input.manifest} --out {output}"
        " --settings {params.frames:q} > {log} 2>&1"


rule train_videos_part:
    input:
        manifest=paths.MANIFEST,
        plan=paths.SHARD_PLAN,
    output:
        paths.TRAIN_INDEX_PART,
    log:
        "logs/train_videos_part/{ds}/{shard}.log",
    benchmark:
        "benchmarks/train_videos_part/{ds}/{shard}.tsv"
    conda:
        CONDA_ENV
    threads: lambda wc: RESOURCES.data_threads(wc.ds)
    resources:
        mem_mb=lambda wc, threads: 1000 + 300 * threads,
        runtime=3 * 60,
    params:
        settings=js(config["train_videos"]),
        videos="data/train_videos/{ds}/videos",
        parts=lambda wc, input: shard_count_of(input.plan),
    shell:
        "openvclip --threads {threads} train-videos --manifest {input.manifest} --videos {params.videos}"
        " --index {output} --settings {params.settings:q} --part {wildcards.shard}/{params.parts} > {log} 2>&1"


rule train_videos:
    input:
        manifest=paths.MANIFEST,
        plan=shard_plan,
        parts=shard_files(paths.TRAIN_INDEX_PART),
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
        # With parts, this job only joins their indexes.
        "openvclip --threads {threads} train-videos --manifest {input.manifest} --videos {params.videos}"
        " --index {output.index} --settings {params.settings:q} --parts {input.parts} > {log} 2>&1"


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
