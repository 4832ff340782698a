# External methods published as an archive: `url` + `sha256` (or `md5`) next to `path` in
# the method's config entry. The archive is downloaded once (resumable, checksum-verified,
# on the machine running Snakemake) and unpacked into `path`, which `evaluate` reads like
# any other external prediction folder. The download has no `code` fingerprint: its output
# is the server's bytes, pinned by the checksum, whatever the code that fetched them.


def methods_with_url():
    return [name for name in methods_of("external") if "url" in METHODS[name]]


for _name in methods_with_url():
    _method = METHODS[_name]
    _algorithm = "sha256" if "sha256" in _method else "md5"  # the schema requires one
    if not Path(_method["path"]).resolve().is_relative_to(Path("resources/external").resolve()):
        raise ValueError(
            f"config: methods.{_name}.path: with a url it must lie under resources/external/"
            " (the folder is replaced when the archive is unpacked)"
        )
    _archive = f"resources/external/{_name}.zip"

    rule:
        name:
            f"download_external_{_name}"
        output:
            ensure(_archive, **{_algorithm: _method[_algorithm]}),
        log:
            f"logs/external/download_{_name}.log",
        retries: 3
        localrule: True
        conda:
            "../envs/data.yaml"
        params:
            url=_method["url"],
            checksum=_method[_algorithm],
            algorithm=_algorithm,
        script:
            "../scripts/external_download.py"

    rule:
        name:
            f"unpack_external_{_name}"
        input:
            _archive,
        output:
            directory(_method["path"]),
        log:
            f"logs/external/unpack_{_name}.log",
        conda:
            "../envs/data.yaml"
        resources:
            mem_mb=per_attempt(2000),
            runtime=per_attempt(60),
        params:
            code=code_of("external_unpack.py"),
        script:
            "../scripts/external_unpack.py"
