# fisbe-bench: the FISBe benchmark from raw download to leaderboard.
# Rules live in workflow/rules; logic lives in the fisbe_bench package (src/).


configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/dataset_stats.smk"
include: "workflow/rules/external.smk"
include: "workflow/rules/threshold_cc.smk"
include: "workflow/rules/colour_clustering.smk"
include: "workflow/rules/unet_affinity.smk"
include: "workflow/rules/patchperpix.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/label_efficiency.smk"
include: "workflow/rules/seeds.smk"
include: "workflow/rules/oracle.smk"


rule all:
    default_target: True
    input:
        leaderboards(),
        oracle_tables(),
        label_efficiency_outputs(),
        expand("results/{dataset}/data/dataset_stats.png", dataset=DATASETS),
