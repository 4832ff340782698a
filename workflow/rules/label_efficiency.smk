# Label efficiency of learned methods with `label_fractions`: the kind's rules train, predict
# and decode per fraction (e.g. unet_affinity.smk); these rules choose the training subset,
# score it like any method and draw S against the fraction.


rule label_subset:
    input:
        split_file=lambda wildcards: split_file(wildcards.dataset),
    output:
        f"{FRACTION_DIR}/split.txt",
    log:
        "logs/{dataset}/{method}/label_efficiency/fraction_{fraction}/label_subset.log",
    wildcard_constraints:
        method=any_of(name for name in METHODS if label_fractions(name)),
    localrule: True
    conda:
        "../envs/data.yaml"
    params:
        code=code_of("label_subset.py"),
        seed=LABEL_SUBSET_SEED,
    script:
        "../scripts/label_subset.py"


use rule evaluate as evaluate_fraction with:
    input:
        table="results/{dataset}/splits.tsv",
        split_file=lambda wildcards: split_file(wildcards.dataset),
        predictions=fraction_predictions,
    output:
        summary=f"{FRACTION_DIR}/evaluation/summary.json",
        per_sample=f"{FRACTION_DIR}/evaluation/per_sample.csv",
        per_threshold=f"{FRACTION_DIR}/evaluation/per_threshold.csv",
    log:
        "logs/{dataset}/{method}/label_efficiency/fraction_{fraction}/evaluate.log",
    benchmark:
        "results/{dataset}/benchmarks/{method}/label_efficiency/fraction_{fraction}/evaluate.tsv"
    wildcard_constraints:
        method=any_of(name for name in METHODS if label_fractions(name)),
    params:
        pred_dir=f"{FRACTION_DIR}/predictions",


rule label_efficiency:
    input:
        summaries=lambda wildcards: [
            fraction_run(wildcards.dataset, wildcards.method, fraction)[0]
            for fraction in label_fractions(wildcards.method)
        ],
        split_files=lambda wildcards: [
            fraction_run(wildcards.dataset, wildcards.method, fraction)[1]
            for fraction in label_fractions(wildcards.method)
        ],
    output:
        csv=report(
            "results/{dataset}/{method}/label_efficiency/label_efficiency.csv",
            caption="../report/label_efficiency.rst",
            category="Label efficiency",
            subcategory="{method}",
            labels={"method": "{method}", "table": "label efficiency"},
        ),
        png=report(
            "results/{dataset}/{method}/label_efficiency/label_efficiency.png",
            caption="../report/label_efficiency.rst",
            category="Label efficiency",
            subcategory="{method}",
            labels={"method": "{method}", "figure": "label efficiency"},
        ),
    log:
        "logs/{dataset}/{method}/label_efficiency.log",
    wildcard_constraints:
        method=any_of(name for name in METHODS if label_fractions(name)),
    conda:
        "../envs/reports.yaml"
    threads: 1
    resources:
        mem_mb=per_attempt(2000),
        runtime=per_attempt(10),
    params:
        code=code_of("label_efficiency.py"),
        fractions=lambda wildcards: [float(f) for f in label_fractions(wildcards.method)],
        train_sets=lambda wildcards: TRAINING[wildcards.method].split("+"),
    script:
        "../scripts/label_efficiency.py"
