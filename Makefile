# Two commands on a fresh machine: `make demo` (whole workflow, synthetic data) and
# `make test` (all checks). Both set up the virtual environment first.
VENV ?= .venv
PY := $(VENV)/bin/python
SNAKEMAKE := $(VENV)/bin/snakemake
CORES ?= 2
# pip takes the local CPU wheel of this version where one is provided.
TORCH ?= torch==2.13.0
DATASET ?= synthetic

.PHONY: setup demo report test test-fast lint dryrun-fisbe lock clean

setup: $(VENV)/.installed

$(VENV)/.installed: workflow/envs/*.yaml pyproject.toml tools/env_pins.py
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "$(TORCH)"
	$(PY) tools/env_pins.py > $(VENV)/requirements.txt
	$(PY) -m pip install --quiet -r $(VENV)/requirements.txt
	$(PY) -m pip install --quiet --no-deps -e .
	touch $@

demo: setup
	$(SNAKEMAKE) --cores $(CORES)
	$(MAKE) report DATASET=synthetic

report: setup
	$(SNAKEMAKE) --cores $(CORES) --report results/$(DATASET)/report.zip

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/snakefmt --check Snakefile workflow/rules
	$(VENV)/bin/mypy
	$(SNAKEMAKE) --lint

dryrun-fisbe: setup
	$(SNAKEMAKE) --dry-run --configfile config/fisbe.yaml

test: lint dryrun-fisbe
	$(VENV)/bin/pytest

# The quick subset: no workflow runs, no large volumes, no cluster, no browser.
test-fast: setup
	$(VENV)/bin/pytest -m "not slow and not slurm and not browser"

# Needs conda and the conda-forge channel (not reachable from CI): writes
# workflow/envs/<env>.linux-64.pin.txt, which `--use-conda` then installs exactly.
CONDA_LOCK ?= conda-lock==4.0.3

lock: setup
	$(PY) -m pip install --quiet "$(CONDA_LOCK)"
	for env in workflow/envs/*.yaml; do \
		$(VENV)/bin/conda-lock lock --micromamba --platform linux-64 --kind explicit \
			--file $$env --filename-template "$${env%.yaml}.{platform}.pin.txt"; \
	done

clean:
	rm -rf results resources logs .snakemake
