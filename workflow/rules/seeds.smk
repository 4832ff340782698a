# Seeds of learned methods with several `seeds`: the kind's rules train, predict and decode per
# further seed (e.g. unet_affinity.smk); this rule scores each like any method. The leaderboard
# reads the scores of every seed (mean and spread across seeds).


use rule evaluate as evaluate_seed with:
    input:
        table="results/{dataset}/splits.tsv",
        split_file=lambda wildcards: split_file(wildcards.dataset),
        predictions=seed_predictions,
    output:
        summary=f"{SEED_DIR}/evaluation/summary.json",
        per_sample=f"{SEED_DIR}/evaluation/per_sample.csv",
        per_threshold=f"{SEED_DIR}/evaluation/per_threshold.csv",
    log:
        "logs/{dataset}/{method}/seeds/seed_{seed}/evaluate.log",
    benchmark:
        "results/{dataset}/benchmarks/{method}/seeds/seed_{seed}/evaluate.tsv"
    wildcard_constraints:
        method=any_of(name for name in METHODS if extra_seeds(name)),
    params:
        pred_dir=f"{SEED_DIR}/predictions",
