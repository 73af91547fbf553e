# Two commands matter: `make forecast` (whole chain) and `make test` (default lane).
# Every target creates .venv itself when it is missing.
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export OMP_NUM_THREADS := 1
export OPENBLAS_NUM_THREADS := 1
export MKL_NUM_THREADS := 1
export PIP_DISABLE_PIP_VERSION_CHECK := 1

SEED ?= 20251022
# make bench measures the shipped settings (converged fits); BENCH_ARGS="--skip-pymc" leaves out PyMC's NUTS.
BENCH_ARGS ?=
MODEL ?= models/baseline.toml
RUN := runs/$(notdir $(basename $(MODEL))).nc

.PHONY: forecast test test-slow notebooks bench venv clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	@py=$$(scripts/find-python) || exit 1; \
	  echo "== creating $(VENV) with $$py"; \
	  [ -x $(BIN)/python ] || $$py -m venv $(VENV)
	@$(BIN)/python -m pip install -q --upgrade pip 2> >(grep -v "is ignored: it is neither" >&2)
	@$(BIN)/python -m pip install -q -e ".[test,notebooks]" 2> >(grep -v "is ignored: it is neither" >&2)
	@touch $(STAMP)

forecast: $(STAMP)
	@mkdir -p outputs runs
	$(BIN)/rlforecast data build --raw data/raw --out outputs/observations.csv
	@cmp -s outputs/observations.csv data/observations.csv || { echo "data/observations.csv differs from a fresh build of data/raw: rebuild and commit it" >&2; exit 1; }
	$(BIN)/rlforecast data check data/observations.csv
	$(BIN)/rlforecast fit --data data/observations.csv --model $(MODEL) --out $(RUN) --seed $(SEED)
	$(BIN)/rlforecast exchange-rate --fit $(RUN) --out outputs/exchange_rate.csv
	$(BIN)/rlforecast forecast --fit $(RUN) --scenarios data/scenarios --out outputs --seed $(SEED)
	$(BIN)/rlforecast budget --fit $(RUN) --scenarios data/scenarios --out outputs/budget --seed $(SEED)
	$(BIN)/rlforecast report --fit $(RUN) --scenarios data/scenarios --out outputs/report.html --seed $(SEED)
	$(BIN)/rlforecast explore --fit $(RUN) --scenarios data/scenarios --out outputs/explorer.html --seed $(SEED)
	@echo "== results are in $(CURDIR)/outputs"

test: $(STAMP)
	@scripts/ensure-chromium
	$(BIN)/python -m pytest -m "not slow" -q

test-slow: $(STAMP)
	$(BIN)/python -m pytest -m slow -q

notebooks: $(STAMP)
	$(BIN)/python scripts/run_notebooks.py

bench: $(STAMP)
	@mkdir -p outputs
	$(BIN)/python scripts/bench.py --out outputs/bench.json $(BENCH_ARGS)

clean:
	rm -rf runs outputs .pytest_cache
