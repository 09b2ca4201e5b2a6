# Data: generate (synthetic) -> manifest -> frames decoded once by decord.


rule synthesize_dataset:
    output:
        manifest="data/manifests/{ds}.csv",
        classes="data/manifests/{ds}.classes.txt",
        videos=directory("data/raw/{ds}"),
    params:
        world=js(config.get("world", {})),
        objects=js(config.get("objects", {})),
        dataset=lambda wc: js(DATASETS[wc.ds]),
        seed=config["seed"],
    conda:
        CONDA_ENV
    log:
        "logs/synthesize_dataset/{ds}.log",
    benchmark:
        "benchmarks/synthesize_dataset/{ds}.tsv"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=30,
    shell:
        "openvclip synth --world {params.world:q} --objects {params.objects:q} --dataset {params.dataset:q}"
        " --name {wildcards.ds} --seed {params.seed} --raw-dir {output.videos} --manifest {output.manifest}"
        " > {log} 2>&1"


rule extract_frames:
    input:
        manifest="data/manifests/{ds}.csv",
        videos="data/raw/{ds}",
    output:
        "data/frames/{ds}.npy",
    params:
        frames=num_frames(),
        size=image_size(),
    conda:
        CONDA_ENV
    log:
        "logs/extract_frames/{ds}.log",
    benchmark:
        "benchmarks/extract_frames/{ds}.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=60,
    shell:
        "openvclip frames --manifest {input.manifest} --out {output} --num-frames {params.frames}"
        " --size {params.size} > {log} 2>&1"
