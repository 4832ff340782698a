rule dataset_stats:
    input:
        completely="resources/{dataset}/completely",
        partly="resources/{dataset}/partly",
    output:
        "results/{dataset}/data/dataset_stats.csv",
    log:
        "logs/{dataset}/dataset_stats.log",
    conda:
        "../envs/classical.yaml"
    resources:
        mem_mb=per_attempt(16000),
        runtime=per_attempt(240),
    params:
        code=code_of("dataset_stats.py"),
        data_root=lambda wildcards, input: Path(input.completely).parent,
    script:
        "../scripts/dataset_stats.py"


rule dataset_stats_figure:
    input:
        "results/{dataset}/data/dataset_stats.csv",
    output:
        report(
            "results/{dataset}/data/dataset_stats.png",
            caption="../report/dataset_stats.rst",
            category="Data",
            labels={"figure": "GT geometry vs real FISBe"},
        ),
    log:
        "logs/{dataset}/dataset_stats_figure.log",
    conda:
        "../envs/reports.yaml"
    resources:
        mem_mb=per_attempt(2000),
        runtime=per_attempt(10),
    params:
        code=code_of("dataset_stats_figure.py"),
    script:
        "../scripts/dataset_stats_figure.py"
