# Two commands for a newcomer: `make demo` (main job on the shipped default model) and `make test`.
# Both create .venv on first use. torch==2.13.0 is installed first, on its own: an unpinned torch
# (asked for by any later package) would pull gigabytes of CUDA packages.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
EXTRAS ?= train,serve,distributed,report,dev
PYTEST_ARGS ?= -q

.PHONY: setup demo test test-fast bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[$(EXTRAS)]'
	touch $(STAMP)

setup: $(STAMP)

SAMPLE ?= examples/sample_archive.jsonl
MODEL ?= models/default

# The main job: validate the bundled sample archive, score it with the shipped model, write the report.
demo: setup
	mkdir -p out
	$(BIN)/convo-outcomes data validate $(SAMPLE)
	$(BIN)/convo-outcomes score $(SAMPLE) --model $(MODEL) --output out/scores.parquet --overwrite
	$(BIN)/convo-outcomes report out/scores.parquet --output out/report.html
	@echo "open out/report.html (scores in out/scores.parquet)"

test: setup
	@$(BIN)/python -m pytest $(PYTEST_ARGS); status=$$?; \
	if [ $$status -eq 5 ]; then echo "pytest collected no tests: treating as failure"; fi; exit $$status

test-fast: setup
	$(BIN)/python -m pytest -q -m "not slow"

clean:
	rm -rf $(VENV) out build dist src/*.egg-info
