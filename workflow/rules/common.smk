import csv
import functools
import sys
from pathlib import Path

from snakemake.utils import min_version, validate

min_version("9.0")

REPO = Path(workflow.basedir)
sys.path.insert(0, str(REPO / "src"))

from fisbe_bench.download import read_checksum_table  # noqa: E402  (stdlib only)
from fisbe_bench.fingerprint import code_fingerprint  # noqa: E402  (stdlib only)
from fisbe_bench.oracle import KINDS as ORACLE_KINDS  # noqa: E402  (stdlib only)
from fisbe_bench.plan import plan_dataset  # noqa: E402  (stdlib only)
from fisbe_bench.training import (  # noqa: E402  (stdlib + PyYAML)
    method_seeds,
    method_training,
    training_threads,
)

validate(config, "../schemas/config.schema.yaml")  # keys per method kind, ranges, url + checksum

for _name in config["run"]:
    if _name not in config["datasets"]:
        raise ValueError(f"config: run: dataset {_name!r} is not defined under datasets")

DATASETS = {name: config["datasets"][name] for name in config["run"]}
EVAL_SPLIT = config["eval_split"]
METHODS = config["methods"]
TRAINING = {name: method_training(method, REPO) for name, method in METHODS.items()}
SEEDS = {name: method_seeds(method, REPO) for name, method in METHODS.items()}
TRAIN_THREADS = {name: training_threads(method, REPO) for name, method in METHODS.items()}


def repo_path(path):
    """A committed file named in the config, relative to the repository."""
    return str(path if Path(path).is_absolute() else REPO / path)


def code_of(script, dynamic=None):
    """The `code` param of jobs running `workflow/scripts/<script>`, a fingerprint of the package
    modules that the script imports: editing one of them reruns those jobs (Snakemake itself
    tracks only the script). `dynamic(wildcards)` names a module the script imports by name at
    run time (`importlib`). Computed once per script and module, only for jobs that exist."""
    return lambda wildcards: _code_fingerprint(script, dynamic(wildcards) if dynamic else None)


@functools.cache
def _code_fingerprint(script, module):
    modules = [module] if module else []
    return code_fingerprint(REPO / "src", REPO / "workflow" / "scripts" / script, modules)


def per_attempt(base):
    """A resource (`mem_mb` in MB, `runtime` in minutes) sized for real FISBe data that grows
    with each retry: `base` on the first attempt, twice `base` on the second, and so on."""
    return lambda wildcards, attempt: base * attempt


def any_of(names):
    """Wildcard regex matching exactly the given names (nothing when empty)."""
    return "|".join(sorted(names)) or "(?!x)x"


def datasets_from(source):
    return [name for name, ds in DATASETS.items() if ds["source"] == source]


def methods_of(kind):
    return [name for name, method in METHODS.items() if method["kind"] == kind]


def _read_sheet(dataset):
    ds = DATASETS[dataset]
    if ds["source"] == "synthetic":
        plan = plan_dataset(ds["n_completely"], ds["n_partly"])
        return [{"sample": s.name, "set": s.set, "split": s.split} for s in plan]
    with open(repo_path(ds["samples"])) as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


SHEETS = {dataset: _read_sheet(dataset) for dataset in DATASETS}


def samples(dataset, split=EVAL_SPLIT):
    """Sample names of one split of a dataset (from config: known at DAG-build time)."""
    return [row["sample"] for row in SHEETS[dataset] if row["split"] == split]


def split_outputs(wildcards, pattern, split):
    """``pattern`` for every sample of ``split``, the job's other wildcards filled in."""
    return [
        pattern.format(**dict(wildcards.items()), sample=sample)
        for sample in samples(wildcards.dataset, split)
    ]


def sample_zarr(dataset, sample):
    """Path of a sample's zarr group, FISBe archive layout."""
    row = next(r for r in SHEETS[dataset] if r["sample"] == sample)
    return f"resources/{dataset}/{row['set']}/{row['split']}/{sample}.zarr"


def split_file(dataset):
    """The dataset's official-format split file."""
    if DATASETS[dataset]["source"] == "synthetic":
        return f"resources/{dataset}/sample_list_per_split.txt"
    return f"resources/{dataset}/downloads/{DATASETS[dataset]['split_file']}"


def predictions(wildcards):
    """Predictions a method's evaluation needs: an external method's whole folder (it must
    exist, or be unpacked by external.smk; a newer folder re-runs the evaluation)."""
    if METHODS[wildcards.method]["kind"] == "external":
        return [METHODS[wildcards.method]["path"]]
    return expand(
        "results/{dataset}/{method}/predictions/{sample}.zarr",
        dataset=wildcards.dataset,
        method=wildcards.method,
        sample=samples(wildcards.dataset),
    )


def prediction_dir(wildcards):
    method = METHODS[wildcards.method]
    if method["kind"] == "external":
        return method["path"]
    return f"results/{wildcards.dataset}/{wildcards.method}/predictions"


# Label efficiency: a learned method with `label_fractions` is also trained on a subset of the
# training images per fraction below 1 (fraction 1 is its normal run).
FRACTION_DIR = "results/{dataset}/{method}/label_efficiency/fraction_{fraction}"
UNET_GRID = "config/unet_grid.yaml"  # the schema's default decoding grid of unet_affinity
LABEL_SUBSET_SEED = 0  # fixed, so presets are compared on the same subsets


def label_fractions(method):
    """A method's fractions as path names ('0.25', '0.5', '1'), ascending (none: no sweep)."""
    return [f"{f:g}" for f in sorted(METHODS[method].get("label_fractions", []))]


def swept_methods(kind):
    return [name for name in methods_of(kind) if label_fractions(name)]


def fraction_run(dataset, method, fraction):
    """The evaluation summary and training split file of one fraction of a sweep."""
    if float(fraction) == 1:
        return f"results/{dataset}/{method}/evaluation/summary.json", split_file(dataset)
    folder = FRACTION_DIR.format(dataset=dataset, method=method, fraction=fraction)
    return f"{folder}/evaluation/summary.json", f"{folder}/split.txt"


def fraction_predictions(wildcards):
    """Predictions of the evaluation split by one fraction's model."""
    return expand(
        f"{FRACTION_DIR}/predictions/{{sample}}.zarr",
        dataset=wildcards.dataset,
        method=wildcards.method,
        fraction=wildcards.fraction,
        sample=samples(wildcards.dataset),
    )


def label_efficiency_outputs():
    return [
        f"results/{dataset}/{method}/label_efficiency/label_efficiency.{ext}"
        for dataset in DATASETS
        for method in METHODS
        if label_fractions(method)
        for ext in ("csv", "png")
    ]


# Seeds: a learned method with `seeds` trains one model per seed; the first seed is its normal
# run (results/<dataset>/<method>/...), each further seed runs under SEED_DIR.
SEED_DIR = "results/{dataset}/{method}/seeds/seed_{seed}"


def extra_seeds(method):
    """A method's seeds after the first, as path names (none: a single run)."""
    return [str(seed) for seed in SEEDS[method][1:]]


def seeded_methods(kind):
    return [name for name in methods_of(kind) if extra_seeds(name)]


def decoding_config(method):
    """A method's entry without `seeds`: the same for every seed, and adding seeds leaves the
    decoding jobs of the first as they are."""
    return {key: value for key, value in METHODS[method].items() if key != "seeds"}


def seed_predictions(wildcards):
    """Predictions of the evaluation split by one further seed's model."""
    return expand(
        f"{SEED_DIR}/predictions/{{sample}}.zarr",
        dataset=wildcards.dataset,
        method=wildcards.method,
        seed=wildcards.seed,
        sample=samples(wildcards.dataset),
    )


def seed_runs(dataset):
    """Method -> seed -> evaluation folder, for methods with several seeds (first: main run)."""
    evaluation = f"{SEED_DIR}/evaluation"
    return {
        method: {
            SEEDS[method][0]: f"results/{dataset}/{method}/evaluation",
            **{
                int(seed): evaluation.format(dataset=dataset, method=method, seed=seed)
                for seed in extra_seeds(method)
            },
        }
        for method in METHODS
        if extra_seeds(method)
    }


def oracle_methods():
    """Configured methods whose kind has an oracle (fisbe-bench oracle)."""
    return [name for name, entry in METHODS.items() if entry["kind"] in ORACLE_KINDS]


def oracle_tables():
    if not oracle_methods():
        return []
    return expand("results/{dataset}/leaderboard/oracle.csv", dataset=DATASETS)


def leaderboards():
    return expand(
        "results/{dataset}/leaderboard/leaderboard.{ext}",
        dataset=DATASETS,
        ext=["csv", "md", "html"],
    )


wildcard_constraints:
    dataset=any_of(DATASETS),
    method=any_of(METHODS),
    sample=r"[A-Za-z0-9][A-Za-z0-9_\-]*",
    fraction=r"[0-9][0-9.e\-]*",
    seed=r"0|[1-9][0-9]*",


def checksum_table(dataset):
    """The pin of a Zenodo dataset: file name -> entry (url, size, md5; None when empty)."""
    return read_checksum_table(repo_path(DATASETS[dataset]["checksums"]))


def record_json(dataset):
    """The kept metadata of a Zenodo dataset's record (read at run time, not at DAG build)."""
    return f"resources/{dataset}/downloads/record.json"


def download_files(dataset):
    """Files of a Zenodo dataset by role: both archives and the split file."""
    ds = DATASETS[dataset]
    return {**ds["archives"], "split_file": ds["split_file"]}
