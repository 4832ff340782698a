rule threshold_cc:
    input:
        table="results/{dataset}/splits.tsv",
    output:
        directory("results/{dataset}/{method}/predictions/{sample}.zarr"),
    log:
        "logs/{dataset}/{method}/predict_{sample}.log",
    benchmark:
        "results/{dataset}/benchmarks/{method}/predict_{sample}.tsv"
    wildcard_constraints:
        method=any_of(methods_of("threshold_cc")),
    conda:
        "../envs/classical.yaml"
    threads: 1
    resources:
        mem_mb=per_attempt(16000),
        runtime=per_attempt(30),
    params:
        code=code_of("threshold_cc.py"),
        raw=lambda wildcards: sample_zarr(wildcards.dataset, wildcards.sample),
        method=lambda wildcards: METHODS[wildcards.method],
    script:
        "../scripts/threshold_cc.py"
