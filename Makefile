# Two commands on a fresh machine: `make demo` (whole workflow, synthetic data) and
# `make test` (all checks). Both set up the virtual environment first.
VENV ?= .venv
PY := $(VENV)/bin/python
SNAKEMAKE := $(VENV)/bin/snakemake
CORES ?= 2
# pip takes the local CPU wheel of this version where one is provided.
TORCH ?= torch==2.13.0
# uv installs the pinned requirements, several times faster than pip (the demo's set-up time
# is in benchmarks/RESULTS-demo.md); torch stays with pip, which finds a local wheel through
# pip's own configuration where one is provided.
UV ?= uv==0.13.10
DATASET ?= synthetic

.PHONY: setup demo report test test-fast lint dryrun-fisbe lock clean
.PHONY: bench bench-demo bench-ci bench-gpu bench-learning

setup: $(VENV)/.installed

$(VENV)/.installed: workflow/envs/*.yaml pyproject.toml tools/env_pins.py
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "$(TORCH)" "$(UV)"
	$(PY) tools/env_pins.py > $(VENV)/requirements.txt
	$(VENV)/bin/uv pip install --quiet --python $(PY) -r $(VENV)/requirements.txt
	$(VENV)/bin/uv pip install --quiet --python $(PY) --no-deps -e .
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

# Two pytest-xdist workers, one per core; tests sharing one expensive fixture carry an
# xdist_group mark and run on one worker. The slowest tests are listed at the end.
PYTEST := $(VENV)/bin/pytest -n 2 --dist loadgroup

test: lint dryrun-fisbe
	$(PYTEST) --durations=40

# The loop to run while editing (CONTRIBUTING.md): no workflow runs, no large volumes, no
# cluster, no browser, no viewer.
test-fast: setup
	$(PYTEST) -m "not slow and not slurm and not browser and not viewer"

# Benchmarks: each command is the one the README's Performance table quotes and writes its
# benchmarks/RESULTS-<name>.md section itself (date, machine, load, command, raw numbers, table).
# `bench` takes about 10 min on 2 quiet cores (two FISBe-size volumes, 5-8 GiB RAM);
# `bench-demo` about 5 min with its own set-up; `bench-ci` about 10 min (a fresh clone,
# `CI=true bash .ci/run`); `bench-learning` about 50 min (overfit checks, learning curves;
# its work folder /tmp/learnrun must not exist yet);
# `bench-gpu` needs a CUDA GPU. bench_official.py needs a checkout of
# the official evaluator and a venv for it (see benchmarks/RESULTS-official.md).
BENCH := $(PY) benchmarks
B3_RESULTS := benchmarks/RESULTS-patchperpix.md  # B3 figures, with B1 references of the same run

bench: setup
	$(BENCH)/bench_metrics.py --repeat 3 --split 23
	$(BENCH)/bench_dryrun.py
	$(BENCH)/bench_synth.py --shape 32 64 64 --shape 128 256 256 --shape 400 700 700
	$(BENCH)/bench_colour.py runtime --shape 128 256 256
	$(BENCH)/bench_colour.py runtime --shape 385 685 686
	$(BENCH)/bench_unet.py instances --shape 128 256 256 --replicate-to 400 700 700
	$(BENCH)/bench_unet.py train --preset config/unet/demo.yaml
	$(BENCH)/bench_unet.py train --preset config/unet/demo.yaml --out $(B3_RESULTS)
	$(BENCH)/bench_unet.py train --preset config/patchperpix/demo.yaml --out $(B3_RESULTS)
	$(BENCH)/bench_unet.py instances --preset config/patchperpix/paper.yaml --shape 128 256 256 --replicate-to 400 700 700 --out $(B3_RESULTS)
	$(BENCH)/bench_unet.py instances --shape 128 256 256 --replicate-to 400 700 700 --out $(B3_RESULTS)
	$(BENCH)/bench_unet.py loader --preset config/patchperpix/paper.yaml --out $(B3_RESULTS)
	$(BENCH)/bench_oracle.py
	$(BENCH)/bench_zenodo.py

bench-demo: setup
	$(BENCH)/bench_demo.py --cores $(CORES)

bench-learning: setup
	$(BENCH)/bench_overfit.py
	$(BENCH)/bench_learning.py --workdir /tmp/learnrun

bench-ci:
	python3 benchmarks/bench_ci.py

bench-gpu: setup
	$(BENCH)/bench_unet.py gpu --preset config/unet/paper.yaml --device cuda
	$(BENCH)/bench_unet.py train --preset config/unet/paper.yaml --device cuda --data-shape 160 256 256
	$(BENCH)/bench_unet.py gpu --preset config/patchperpix/paper.yaml --device cuda --out $(B3_RESULTS)

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
