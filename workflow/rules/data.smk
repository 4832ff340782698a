rule synth_dataset:
    output:
        split_file="resources/{dataset}/sample_list_per_split.txt",
        completely=directory("resources/{dataset}/completely"),
        partly=directory("resources/{dataset}/partly"),
    params:
        spec=lambda wildcards: DATASETS[wildcards.dataset],
    wildcard_constraints:
        dataset=any_of(datasets_from("synthetic")),
    threads: 2
    log:
        "logs/{dataset}/synth_dataset.log",
    benchmark:
        "results/{dataset}/benchmarks/synth_dataset.tsv"
    conda:
        "../envs/data.yaml"
    script:
        "../scripts/synth_dataset.py"


def _download_files(dataset):
    """Files of a Zenodo dataset: both archives and the split file."""
    ds = DATASETS[dataset]
    return [*ds["archives"].values(), ds["split_file"]]


for _dataset in datasets_from("zenodo"):
    _table = checksum_table(_dataset)
    for _file in _download_files(_dataset):
        _entry = _table.get(_file, {})
        _md5 = _entry.get("md5") or None
        _out = f"resources/{_dataset}/downloads/{_file}"

        rule:
            name:
                f"download_{_dataset}_{_file.split('.')[0].replace('-', '_')}"
            output:
                ensure(_out, md5=_md5) if _md5 else _out,
            params:
                url=_entry.get("url", ""),
                md5=_md5,
                allow_unknown=DATASETS[_dataset]["allow_unknown_checksum"],
            localrule: True
            retries: 3
            log:
                f"logs/{_dataset}/download_{_file}.log",
            conda:
                "../envs/data.yaml"
            script:
                "../scripts/download.py"


rule extract_fisbe:
    input:
        archive=lambda wildcards: "resources/{dataset}/downloads/"
        + DATASETS[wildcards.dataset]["archives"][wildcards.set],
    output:
        directory("resources/{dataset}/{set}"),
    wildcard_constraints:
        dataset=any_of(datasets_from("zenodo")),
        set="completely|partly",
    log:
        "logs/{dataset}/extract_{set}.log",
    conda:
        "../envs/data.yaml"
    script:
        "../scripts/extract.py"


rule splits:
    input:
        split_file=lambda wildcards: split_file(wildcards.dataset),
        completely="resources/{dataset}/completely",
        partly="resources/{dataset}/partly",
    output:
        report(
            "results/{dataset}/splits.tsv",
            caption="../report/splits.rst",
            category="Data",
        ),
    params:
        data_root="resources/{dataset}",
        expected=lambda wildcards: SHEETS[wildcards.dataset],
    log:
        "logs/{dataset}/splits.log",
    conda:
        "../envs/data.yaml"
    script:
        "../scripts/splits.py"
