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
    threads: lambda wildcards: TRAIN_THREADS[wildcards.method]  # network + loader workers
    resources:
        gpu=1,
        mem_mb=per_attempt(32000),
        runtime=per_attempt(2880),
    params:
        code=code_of("unet_affinity_train.py"),
        data_root="resources/{dataset}",
        # kept between runs (not an output): a rerun resumes from its last.pt
        workdir="results/{dataset}/{method}/train",
        seed=lambda wildcards: SEEDS[wildcards.method][0],
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
    threads: 1  # predictions of several samples overlap; on a CPU, --set-threads raises it
    resources:
        gpu=1,
        mem_mb=per_attempt(32000),
        runtime=per_attempt(60),
    params:
        code=code_of("unet_affinity_predict.py"),
        raw=lambda wildcards: sample_zarr(wildcards.dataset, wildcards.sample),
        tta=lambda wildcards: METHODS[wildcards.method].get("tta", "none") == "flip",
    script:
        "../scripts/unet_affinity_predict.py"


rule tune_unet_affinity:
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
        method=any_of(methods_of("unet_affinity")),
    conda:
        "../envs/torch.yaml"
    threads: 1
    resources:
        mem_mb=per_attempt(16000),
        runtime=per_attempt(240),
    params:
        code=code_of("unet_affinity_tune.py"),
        method=lambda wildcards: decoding_config(wildcards.method),
        split="val",
    script:
        "../scripts/unet_affinity_tune.py"


rule unet_affinity:
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
        method=any_of(methods_of("unet_affinity")),
    conda:
        "../envs/torch.yaml"
    threads: 1
    resources:
        mem_mb=per_attempt(16000),
        runtime=per_attempt(30),
    params:
        code=code_of("unet_affinity_instances.py"),
    script:
        "../scripts/unet_affinity_instances.py"


# Label efficiency (methods with `label_fractions`): the same three steps per fraction < 1,
# trained with the split file of label_efficiency.smk's `label_subset` (fewer train images).
use rule train_unet_affinity as train_unet_affinity_fraction with:
    input:
        table="results/{dataset}/splits.tsv",
        split_file=f"{FRACTION_DIR}/split.txt",
        preset=lambda wildcards: repo_path(METHODS[wildcards.method]["preset"]),
    output:
        model=f"{FRACTION_DIR}/model/best.pt",
        curve=report(
            f"{FRACTION_DIR}/loss.png",
            caption="../report/loss.rst",
            category="Label efficiency",
            subcategory="{method}",
            labels={"method": "{method}", "figure": "loss curve, fraction {fraction}"},
        ),
    log:
        "logs/{dataset}/{method}/label_efficiency/fraction_{fraction}/train.log",
    benchmark:
        "results/{dataset}/benchmarks/{method}/label_efficiency/fraction_{fraction}/train.tsv"
    wildcard_constraints:
        method=any_of(swept_methods("unet_affinity")),
    params:
        workdir=f"{FRACTION_DIR}/train",


use rule predict_unet_affinity as predict_unet_affinity_fraction with:
    input:
        table="results/{dataset}/splits.tsv",
        model=f"{FRACTION_DIR}/model/best.pt",
    output:
        temp(directory(f"{FRACTION_DIR}/probabilities/{{sample}}.zarr")),
    log:
        "logs/{dataset}/{method}/label_efficiency/fraction_{fraction}/probabilities_{sample}.log",
    benchmark:
        "results/{dataset}/benchmarks/{method}/label_efficiency/fraction_{fraction}/probabilities_{sample}.tsv"
    wildcard_constraints:
        method=any_of(swept_methods("unet_affinity")),


use rule tune_unet_affinity as tune_unet_affinity_fraction with:
    input:
        table="results/{dataset}/splits.tsv",
        grid=lambda wildcards: repo_path(METHODS[wildcards.method].get("grid", UNET_GRID)),
        probabilities=lambda wildcards: split_outputs(
            wildcards, f"{FRACTION_DIR}/probabilities/{{sample}}.zarr", "val"
        ),
    output:
        f"{FRACTION_DIR}/params.json",
    log:
        "logs/{dataset}/{method}/label_efficiency/fraction_{fraction}/tune.log",
    benchmark:
        "results/{dataset}/benchmarks/{method}/label_efficiency/fraction_{fraction}/tune.tsv"
    wildcard_constraints:
        method=any_of(swept_methods("unet_affinity")),


use rule unet_affinity as unet_affinity_fraction with:
    input:
        table="results/{dataset}/splits.tsv",
        params=f"{FRACTION_DIR}/params.json",
        probabilities=f"{FRACTION_DIR}/probabilities/{{sample}}.zarr",
    output:
        directory(f"{FRACTION_DIR}/predictions/{{sample}}.zarr"),
    log:
        "logs/{dataset}/{method}/label_efficiency/fraction_{fraction}/predict_{sample}.log",
    benchmark:
        "results/{dataset}/benchmarks/{method}/label_efficiency/fraction_{fraction}/predict_{sample}.tsv"
    wildcard_constraints:
        method=any_of(swept_methods("unet_affinity")),


# Seeds (methods with more than one of `seeds`): the same three steps per further seed, the
# seed overriding the preset's; the first seed is the normal run above.
use rule train_unet_affinity as train_unet_affinity_seed with:
    output:
        model=f"{SEED_DIR}/model/best.pt",
        curve=report(
            f"{SEED_DIR}/loss.png",
            caption="../report/loss.rst",
            category="Seeds",
            subcategory="{method}",
            labels={"method": "{method}", "figure": "loss curve, seed {seed}"},
        ),
    log:
        "logs/{dataset}/{method}/seeds/seed_{seed}/train.log",
    benchmark:
        "results/{dataset}/benchmarks/{method}/seeds/seed_{seed}/train.tsv"
    wildcard_constraints:
        method=any_of(seeded_methods("unet_affinity")),
    params:
        workdir=f"{SEED_DIR}/train",
        seed=lambda wildcards: int(wildcards.seed),


use rule predict_unet_affinity as predict_unet_affinity_seed with:
    input:
        table="results/{dataset}/splits.tsv",
        model=f"{SEED_DIR}/model/best.pt",
    output:
        temp(directory(f"{SEED_DIR}/probabilities/{{sample}}.zarr")),
    log:
        "logs/{dataset}/{method}/seeds/seed_{seed}/probabilities_{sample}.log",
    benchmark:
        "results/{dataset}/benchmarks/{method}/seeds/seed_{seed}/probabilities_{sample}.tsv"
    wildcard_constraints:
        method=any_of(seeded_methods("unet_affinity")),


use rule tune_unet_affinity as tune_unet_affinity_seed with:
    input:
        table="results/{dataset}/splits.tsv",
        grid=lambda wildcards: repo_path(METHODS[wildcards.method].get("grid", UNET_GRID)),
        probabilities=lambda wildcards: split_outputs(
            wildcards, f"{SEED_DIR}/probabilities/{{sample}}.zarr", "val"
        ),
    output:
        f"{SEED_DIR}/params.json",
    log:
        "logs/{dataset}/{method}/seeds/seed_{seed}/tune.log",
    benchmark:
        "results/{dataset}/benchmarks/{method}/seeds/seed_{seed}/tune.tsv"
    wildcard_constraints:
        method=any_of(seeded_methods("unet_affinity")),


use rule unet_affinity as unet_affinity_seed with:
    input:
        table="results/{dataset}/splits.tsv",
        params=f"{SEED_DIR}/params.json",
        probabilities=f"{SEED_DIR}/probabilities/{{sample}}.zarr",
    output:
        directory(f"{SEED_DIR}/predictions/{{sample}}.zarr"),
    log:
        "logs/{dataset}/{method}/seeds/seed_{seed}/predict_{sample}.log",
    benchmark:
        "results/{dataset}/benchmarks/{method}/seeds/seed_{seed}/predict_{sample}.tsv"
    wildcard_constraints:
        method=any_of(seeded_methods("unet_affinity")),
