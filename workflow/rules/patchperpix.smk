# B3, PatchPerPix-style (kind patchperpix): B1's four steps (train, predict, tune, decode)
# with patch targets and the consensus head; outputs in the same places as B1's.


rule train_patchperpix:
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
        method=any_of(methods_of("patchperpix")),
    conda:
        "../envs/torch.yaml"
    threads: lambda wildcards: TRAIN_THREADS[wildcards.method]  # network + loader workers
    resources:
        gpu=1,
        # targets are built on the GPU: a 128^3 loader item is 0.06 GiB, a worker peaks at
        # 0.8 GiB (benchmarks/RESULTS-patchperpix.md, loader_memory)
        mem_mb=per_attempt(32000),
        runtime=per_attempt(4320),
    params:
        code=code_of("patchperpix_train.py"),
        data_root="resources/{dataset}",
        # kept between runs (not an output): a rerun resumes from its last.pt
        workdir="results/{dataset}/{method}/train",
        seed=lambda wildcards: SEEDS[wildcards.method][0],
    script:
        "../scripts/patchperpix_train.py"


rule predict_patchperpix:
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
        method=any_of(methods_of("patchperpix")),
    conda:
        "../envs/torch.yaml"
    threads: 1  # predictions of several samples overlap; on a CPU, --set-threads raises it
    resources:
        gpu=1,
        mem_mb=per_attempt(32000),
        runtime=per_attempt(120),
    params:
        code=code_of("patchperpix_predict.py"),
        raw=lambda wildcards: sample_zarr(wildcards.dataset, wildcards.sample),
        tta=lambda wildcards: METHODS[wildcards.method].get("tta", "none") == "flip",
    script:
        "../scripts/patchperpix_predict.py"


rule tune_patchperpix:
    input:
        table="results/{dataset}/splits.tsv",
        grid=lambda wildcards: repo_path(METHODS[wildcards.method].get("grid", UNET_GRID)),
        probabilities=lambda wildcards: split_outputs(
            wildcards, "results/{dataset}/{method}/probabilities/{sample}.zarr", "val"
        ),
    output:
        "results/{dataset}/{method}/params.json",
    log:
        "logs/{dataset}/{method}/tune.log",
    benchmark:
        "results/{dataset}/benchmarks/{method}/tune.tsv"
    wildcard_constraints:
        method=any_of(methods_of("patchperpix")),
    conda:
        "../envs/torch.yaml"
    threads: 1
    resources:
        mem_mb=per_attempt(16000),
        runtime=per_attempt(240),
    params:
        code=code_of("patchperpix_tune.py"),
        method=lambda wildcards: decoding_config(wildcards.method),
        split="val",
    script:
        "../scripts/patchperpix_tune.py"


rule patchperpix:
    input:
        table="results/{dataset}/splits.tsv",
        params="results/{dataset}/{method}/params.json",
        probabilities="results/{dataset}/{method}/probabilities/{sample}.zarr",
    output:
        directory("results/{dataset}/{method}/predictions/{sample}.zarr"),
    log:
        "logs/{dataset}/{method}/predict_{sample}.log",
    benchmark:
        "results/{dataset}/benchmarks/{method}/predict_{sample}.tsv"
    wildcard_constraints:
        method=any_of(methods_of("patchperpix")),
    conda:
        "../envs/torch.yaml"
    threads: 1
    resources:
        mem_mb=per_attempt(16000),
        runtime=per_attempt(30),
    params:
        code=code_of("patchperpix_instances.py"),
    script:
        "../scripts/patchperpix_instances.py"
