rule train_unet_affinity:
    input:
        table="results/{dataset}/splits.tsv",
        split_file=lambda wildcards: split_file(wildcards.dataset),
        preset=lambda wildcards: repo_path(METHODS[wildcards.method]["preset"]),
    output:
        model="results/{dataset}/{method}/model/best.pt",
        curve=report(
            "results/{dataset}/{method}/loss.png",
            caption="../report/loss.rst",
            category="Methods",
            subcategory="{method}",
            labels={"method": "{method}", "figure": "loss curve"},
        ),
    log:
        "logs/{dataset}/{method}/train.log",
    benchmark:
        "results/{dataset}/benchmarks/{method}/train.tsv"
    wildcard_constraints:
        method=any_of(methods_of("unet_affinity")),
    conda:
        "../envs/torch.yaml"
    threads: 2
    resources:
        gpu=1,
        mem_mb=16000,
        runtime=2880,
    params:
        data_root="resources/{dataset}",
        # kept between runs (not an output): a rerun resumes from its last.pt
        workdir="results/{dataset}/{method}/train",
    script:
        "../scripts/unet_affinity_train.py"


rule predict_unet_affinity:
    input:
        table="results/{dataset}/splits.tsv",
        model="results/{dataset}/{method}/model/best.pt",
    output:
        temp(directory("results/{dataset}/{method}/probabilities/{sample}.zarr")),
    log:
        "logs/{dataset}/{method}/probabilities_{sample}.log",
    benchmark:
        "results/{dataset}/benchmarks/{method}/probabilities_{sample}.tsv"
    wildcard_constraints:
        method=any_of(methods_of("unet_affinity")),
    conda:
        "../envs/torch.yaml"
    threads: 2
    resources:
        gpu=1,
        mem_mb=16000,
        runtime=60,
    params:
        raw=lambda wildcards: sample_zarr(wildcards.dataset, wildcards.sample),
    script:
        "../scripts/unet_affinity_predict.py"


rule unet_affinity:
    input:
        table="results/{dataset}/splits.tsv",
        probabilities="results/{dataset}/{method}/probabilities/{sample}.zarr",
    output:
        directory("results/{dataset}/{method}/predictions/{sample}.zarr"),
    log:
        "logs/{dataset}/{method}/predict_{sample}.log",
    benchmark:
        "results/{dataset}/benchmarks/{method}/predict_{sample}.tsv"
    wildcard_constraints:
        method=any_of(methods_of("unet_affinity")),
    conda:
        "../envs/torch.yaml"
    threads: 1
    resources:
        mem_mb=16000,
        runtime=30,
    params:
        method=lambda wildcards: METHODS[wildcards.method],
    script:
        "../scripts/unet_affinity_instances.py"
