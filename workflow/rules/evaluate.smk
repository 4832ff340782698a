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
        mem_mb=per_attempt(32000),
        runtime=per_attempt(240),
    params:
        code=code_of("evaluate.py"),
        gt_root="resources/{dataset}",
        pred_dir=prediction_dir,
        pred_key=lambda wildcards: METHODS[wildcards.method].get("pred_key", "volumes/instances"),
        split=EVAL_SPLIT,
    script:
        "../scripts/evaluate.py"


rule figures:
    input:
        table="results/{dataset}/splits.tsv",
        summaries=lambda wildcards: expand(
            "results/{dataset}/{method}/evaluation/summary.json",
            dataset=wildcards.dataset,
            method=METHODS,
        ),
    output:
        f1=report(
            "results/{dataset}/figures/f1_threshold.png",
            caption="../report/f1_threshold.rst",
            category="Metrics",
            labels={"figure": "F1 per threshold"},
        ),
        per_sample=report(
            "results/{dataset}/figures/per_sample.png",
            caption="../report/per_sample_scores.rst",
            category="Metrics",
            labels={"figure": "per-sample scores"},
        ),
        coverage=report(
            "results/{dataset}/figures/coverage.png",
            caption="../report/coverage.rst",
            category="Metrics",
            labels={"figure": "coverage"},
        ),
        per_neuron=report(
            "results/{dataset}/figures/per_neuron.png",
            caption="../report/per_neuron.rst",
            category="Metrics",
            labels={"figure": "coverage per neuron"},
        ),
        mips=report(
            directory("results/{dataset}/figures/mips"),
            patterns=["{sample}.png"],
            caption="../report/mips.rst",
            category="Data",
            labels={"figure": "MIP", "sample": "{sample}"},
        ),
    log:
        "logs/{dataset}/figures.log",
    conda:
        "../envs/reports.yaml"
    threads: 1
    resources:
        mem_mb=per_attempt(4000),
        runtime=per_attempt(30),
    params:
        code=code_of("figures.py"),
        methods=list(METHODS),
        split=EVAL_SPLIT,
    script:
        "../scripts/figures.py"


rule leaderboard:
    input:
        table="results/{dataset}/splits.tsv",
        figures="results/{dataset}/figures/f1_threshold.png",
        summaries=lambda wildcards: expand(
            "results/{dataset}/{method}/evaluation/summary.json",
            dataset=wildcards.dataset,
            method=METHODS,
        ),
        seed_summaries=lambda wildcards: [
            f"{folder}/summary.json"
            for runs in seed_runs(wildcards.dataset).values()
            for folder in list(runs.values())[1:]
        ],
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
        pairwise=report(
            "results/{dataset}/leaderboard/pairwise.csv",
            caption="../report/stats.rst",
            category="Leaderboard",
            labels={"table": "paired comparisons (CSV)"},
        ),
        forest=report(
            "results/{dataset}/leaderboard/pairwise.png",
            caption="../report/pairwise.rst",
            category="Leaderboard",
            labels={"table": "paired comparisons (figure)"},
        ),
    log:
        "logs/{dataset}/leaderboard.log",
    conda:
        "../envs/reports.yaml"
    resources:
        mem_mb=per_attempt(4000),
        runtime=per_attempt(30),
    params:
        code=code_of("leaderboard.py"),
        methods=list(METHODS),
        bootstrap=config["leaderboard"]["bootstrap"],
        seed=config["leaderboard"]["seed"],
        training=TRAINING,
        seed_runs=lambda wildcards: seed_runs(wildcards.dataset),
    script:
        "../scripts/leaderboard.py"
