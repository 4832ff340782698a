rule synth_dataset:
    output:
        split_file="resources/{dataset}/sample_list_per_split.txt",
        completely=directory("resources/{dataset}/completely"),
        partly=directory("resources/{dataset}/partly"),
    log:
        "logs/{dataset}/synth_dataset.log",
    benchmark:
        "results/{dataset}/benchmarks/synth_dataset.tsv"
    wildcard_constraints:
        dataset=any_of(datasets_from("synthetic")),
    conda:
        "../envs/data.yaml"
    threads: 2
    resources:
        mem_mb=per_attempt(4000),
        runtime=per_attempt(30),
    params:
        code=code_of("synth_dataset.py"),
        spec=lambda wildcards: DATASETS[wildcards.dataset],
    script:
        "../scripts/synth_dataset.py"


rule zenodo_record:
    output:
        record_json("{dataset}"),
    log:
        "logs/{dataset}/zenodo_record.log",
    wildcard_constraints:
        dataset=any_of(datasets_from("zenodo")),
    localrule: True
    conda:
        "../envs/data.yaml"
    params:
        api=lambda wildcards: DATASETS[wildcards.dataset]["zenodo_api"],
        record=lambda wildcards: DATASETS[wildcards.dataset]["record"],
        names=lambda wildcards: list(download_files(wildcards.dataset).values()),
        pins=lambda wildcards: checksum_table(wildcards.dataset),
    script:
        "../scripts/zenodo_record.py"


# One rule per file: its URL, size and md5 come from record.json at run time (ancient: a
# refetched record does not redownload verified files); a pinned md5 is also ensured. Like
# zenodo_record, no `code` fingerprint: the output is Zenodo's bytes, not computed here.
for _dataset in datasets_from("zenodo"):
    _pins = checksum_table(_dataset)
    for _role, _file in download_files(_dataset).items():
        _md5 = _pins[_file].md5 if _file in _pins else None
        _out = f"resources/{_dataset}/downloads/{_file}"

        rule:
            name:
                f"download_{_dataset}_{_role}"
            input:
                record=ancient(record_json(_dataset)),
            output:
                ensure(_out, md5=_md5) if _md5 else _out,
            log:
                f"logs/{_dataset}/download_{_file}.log",
            retries: 3
            localrule: True
            conda:
                "../envs/data.yaml"
            params:
                name=_file,
                pins={_file: _pins[_file]} if _file in _pins else {},
            script:
                "../scripts/download.py"


rule extract_fisbe:
    input:
        archive=lambda wildcards: "resources/{dataset}/downloads/"
        + DATASETS[wildcards.dataset]["archives"][wildcards.set],
    output:
        directory("resources/{dataset}/{set}"),
    log:
        "logs/{dataset}/extract_{set}.log",
    wildcard_constraints:
        dataset=any_of(datasets_from("zenodo")),
        set="completely|partly",
    conda:
        "../envs/data.yaml"
    resources:
        mem_mb=per_attempt(4000),
        runtime=per_attempt(60),
    params:
        code=code_of("extract.py"),
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
    log:
        "logs/{dataset}/splits.log",
    conda:
        "../envs/data.yaml"
    resources:
        mem_mb=per_attempt(8000),
        runtime=per_attempt(15),
    params:
        code=code_of("splits.py"),
        data_root=lambda wildcards, input: Path(input.completely).parent,
        expected=lambda wildcards: SHEETS[wildcards.dataset],
    script:
        "../scripts/splits.py"
