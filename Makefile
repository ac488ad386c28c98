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

demo: setup
	mkdir -p out
	$(BIN)/convo-outcomes data synth --n 200 --seed 1 --out out/sample.jsonl
	$(BIN)/convo-outcomes data validate out/sample.jsonl --rejects out/sample.rejects.jsonl

test: setup
	@$(BIN)/python -m pytest $(PYTEST_ARGS); status=$$?; \
	if [ $$status -eq 5 ]; then echo "pytest collected no tests: treating as failure"; fi; exit $$status

test-fast: setup
	$(BIN)/python -m pytest -q -m "not slow"

clean:
	rm -rf $(VENV) out build dist src/*.egg-info
