rule tune_colour_clustering:
    input:
        table="results/{dataset}/splits.tsv",
        grid=lambda wildcards: repo_path(METHODS[wildcards.method]["grid"]),
    output:
        "results/{dataset}/{method}/params.json",
    log:
        "logs/{dataset}/{method}/tune.log",
    benchmark:
        "results/{dataset}/benchmarks/{method}/tune.tsv"
    wildcard_constraints:
        method=any_of(methods_of("colour_clustering")),
    conda:
        "../envs/classical.yaml"
    threads: 2
    resources:
        mem_mb=per_attempt(20000),
        runtime=per_attempt(240),
    params:
        code=code_of("colour_clustering_tune.py"),
        method=lambda wildcards: METHODS[wildcards.method],
        split="val",
    script:
        "../scripts/colour_clustering_tune.py"


rule colour_clustering:
    input:
        table="results/{dataset}/splits.tsv",
        params="results/{dataset}/{method}/params.json",
    output:
        directory("results/{dataset}/{method}/predictions/{sample}.zarr"),
    log:
        "logs/{dataset}/{method}/predict_{sample}.log",
    benchmark:
        "results/{dataset}/benchmarks/{method}/predict_{sample}.tsv"
    wildcard_constraints:
        method=any_of(methods_of("colour_clustering")),
    conda:
        "../envs/classical.yaml"
    threads: 1
    resources:
        mem_mb=per_attempt(16000),
        runtime=per_attempt(30),
    params:
        code=code_of("colour_clustering_predict.py"),
        raw=lambda wildcards: sample_zarr(wildcards.dataset, wildcards.sample),
    script:
        "../scripts/colour_clustering_predict.py"
