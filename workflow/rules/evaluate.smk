rule evaluate:
    input:
        table="results/{dataset}/splits.tsv",
        split_file=lambda wildcards: split_file(wildcards.dataset),
        predictions=predictions,
    output:
        summary="results/{dataset}/{method}/evaluation/summary.json",
        per_sample=report(
            "results/{dataset}/{method}/evaluation/per_sample.csv",
            caption="../report/per_sample.rst",
            category="Metrics",
            subcategory="{method}",
            labels={"method": "{method}", "table": "per sample"},
        ),
        per_threshold=report(
            "results/{dataset}/{method}/evaluation/per_threshold.csv",
            caption="../report/per_threshold.rst",
            category="Metrics",
            subcategory="{method}",
            labels={"method": "{method}", "table": "per threshold"},
        ),
    log:
        "logs/{dataset}/{method}/evaluate.log",
    benchmark:
        "results/{dataset}/benchmarks/{method}/evaluate.tsv"
    conda:
        "../envs/metrics.yaml"
    threads: 2
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        gt_root="resources/{dataset}",
        pred_dir=prediction_dir,
        pred_key=lambda wildcards: METHODS[wildcards.method].get(
            "pred_key", "volumes/instances"
        ),
        split=EVAL_SPLIT,
    script:
        "../scripts/evaluate.py"


rule leaderboard:
    input:
        table="results/{dataset}/splits.tsv",
        summaries=lambda wildcards: expand(
            "results/{dataset}/{method}/evaluation/summary.json",
            dataset=wildcards.dataset,
            method=METHODS,
        ),
    output:
        csv=report(
            "results/{dataset}/leaderboard/leaderboard.csv",
            caption="../report/leaderboard.rst",
            category="Leaderboard",
            labels={"table": "leaderboard (CSV)"},
        ),
        md="results/{dataset}/leaderboard/leaderboard.md",
        html=report(
            "results/{dataset}/leaderboard/leaderboard.html",
            caption="../report/leaderboard.rst",
            category="Leaderboard",
            labels={"table": "leaderboard (page)"},
        ),
    log:
        "logs/{dataset}/leaderboard.log",
    conda:
        "../envs/reports.yaml"
    params:
        methods=list(METHODS),
        bootstrap=config["leaderboard"]["bootstrap"],
        seed=config["leaderboard"]["seed"],
    script:
        "../scripts/leaderboard.py"
