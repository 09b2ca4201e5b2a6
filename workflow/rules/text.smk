# Text side, cached per data set and labelling: the template-averaged classifier, or caption embeddings; a
# variant that uses class descriptions (FROSTER) gets a classifier from the set's descriptions files instead.


rule embed_text:
    input:
        theta0=paths.THETA0,
        manifest=paths.MANIFEST,
    output:
        paths.TEXT,
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


rule embed_descriptions:
    input:
        theta0=paths.THETA0,
        manifest=paths.MANIFEST,
        descriptions=paths.DESCRIPTIONS,
    output:
        paths.DESCRIPTIONS_TEXT,
    log:
        "logs/embed_text/{ds}.{column}.descriptions.log",
    benchmark:
        "benchmarks/embed_text/{ds}.{column}.descriptions.tsv"
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=60,
    params:
        model=js(config["clip"]["model"]),
        protocol=lambda wc: PLAN.protocol(wc.ds),
        templates=js(config["text"]["templates"]),
        aliases=lambda wc: js(PLAN.description_aliases(wc.ds)),
    shell:
        "openvclip --threads {threads} embed-text --model {params.model:q} --theta0 {input.theta0}"
        " --manifest {input.manifest} --column {wildcards.column} --protocol {params.protocol}"
        " --templates {params.templates:q} --descriptions {input.descriptions} --aliases {params.aliases:q}"
        " --out {output} > {log} 2>&1"
