# Text side, cached per data set and labelling: the template-averaged classifier, or caption embeddings.


rule embed_text:
    input:
        theta0="models/clip/theta0.safetensors",
        manifest="data/manifests/{ds}.csv",
    output:
        "data/text/{ds}.{column}.pt",
    log:
        "logs/embed_text/{ds}.{column}.log",
    benchmark:
        "benchmarks/embed_text/{ds}.{column}.tsv"
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        model=js(config["clip"]["model"]),
        protocol=lambda wc: PLAN.protocol(wc.ds),
        templates=js(config["text"]["templates"]),
    shell:
        "openvclip --threads {threads} embed-text --model {params.model:q} --theta0 {input.theta0}"
        " --manifest {input.manifest} --column {wildcards.column} --protocol {params.protocol}"
        " --templates {params.templates:q} --out {output} > {log} 2>&1"
