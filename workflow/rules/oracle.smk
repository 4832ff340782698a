# Decoding ceilings of learned methods (fisbe-bench oracle): ideal network outputs from the
# ground truth of the evaluation split, decoded with the method's own decoding parameters
# (its config entry, not the tuned ones: the ceiling needs no training).


rule oracle:
    input:
        table="results/{dataset}/splits.tsv",
        split_file=lambda wildcards: split_file(wildcards.dataset),
        preset=lambda wildcards: repo_path(METHODS[wildcards.method]["preset"]),
    output:
        summary="results/{dataset}/{method}/oracle/summary.json",
        per_sample="results/{dataset}/{method}/oracle/per_sample.csv",
    log:
        "logs/{dataset}/{method}/oracle.log",
    benchmark:
        "results/{dataset}/benchmarks/{method}/oracle.tsv"
    wildcard_constraints:
        method=any_of(oracle_methods()),
    conda:
        "../envs/torch.yaml"
    threads: 1
    resources:
        mem_mb=per_attempt(16000),
        runtime=per_attempt(180),  # B3 on the 23 FISBe test volumes: about 1 min each
    params:
        code=code_of(
            "oracle.py",  # runs fisbe_bench.methods.<kind>.oracle, imported by name:
            lambda wildcards: f"fisbe_bench.methods.{METHODS[wildcards.method]['kind']}.oracle",
        ),
        method=lambda wildcards: decoding_config(wildcards.method),
        gt_root="resources/{dataset}",
        split=EVAL_SPLIT,
    script:
        "../scripts/oracle.py"


rule oracle_table:
    input:
        oracles=lambda wildcards: expand(
            "results/{dataset}/{method}/oracle/summary.json",
            dataset=wildcards.dataset,
            method=oracle_methods(),
        ),
        evaluations=lambda wildcards: expand(
            "results/{dataset}/{method}/evaluation/summary.json",
            dataset=wildcards.dataset,
            method=oracle_methods(),
        ),
    output:
        report(
            "results/{dataset}/leaderboard/oracle.csv",
            caption="../report/oracle.rst",
            category="Leaderboard",
            labels={"table": "decoding ceilings (oracle)"},
        ),
    log:
        "logs/{dataset}/oracle_table.log",
    localrule: True
    conda:
        "../envs/reports.yaml"
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        code=code_of("oracle_table.py"),
        methods=oracle_methods(),
    script:
        "../scripts/oracle_table.py"
