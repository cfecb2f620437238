# Two commands do all the set-up on a fresh machine (Python 3.11 and make):
#   make demo   - create .venv, install the project, run the end-to-end demo
#   make test   - create .venv, install the project, start what the tests need, run them
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
WORKDIR ?= ./demo-work
INSTRUMENTS := $(wildcard instruments/*/setup.cfg)
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=
# The suite runs on this many processes (pytest-xdist); each test file runs on one worker,
# so a module's costly shared set-up (the web scenario, a reference run) is built once.
TEST_WORKERS ?= 2

.PHONY: demo test test-fast test-airflow bench bench-pac lint docs clean venv

$(STAMP): setup.cfg pyproject.toml $(INSTRUMENTS)
	@$(PYTHON) -c 'import sys; sys.exit("Python 3.11+ is needed, found " + sys.version) if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,docs]' $(foreach i,$(INSTRUMENTS),-e $(dir $(i)))
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/dkist-processing demo --workdir $(WORKDIR)

# Everything the tests need is installed and started by the project's own files.
test: $(STAMP)
	bash .ci/ensure-services
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)
	$(BIN)/tox -e docs
	$(MAKE) test-airflow

# The documentation site, with warnings as errors (task and workflow pages are generated from
# the code at build time; Graphviz draws the graphs).
docs: $(STAMP)
	bash .ci/ensure-services
	$(BIN)/sphinx-build -W --keep-going -q -b html docs docs/_build/html
	@echo "documentation site: docs/_build/html/index.html"

# Airflow in its own tox environment (its pins never constrain the library's); tox keeps the
# environment between runs and reinstalls only when tox.ini or the dependencies change.
test-airflow: $(STAMP)
	$(BIN)/tox -e airflow

test-fast: $(STAMP)
	$(BIN)/pytest -m "not slow" $(PYTEST_ARGS)

bench: $(STAMP)
	bash .ci/ensure-services
	$(BIN)/pytest benchmarks --benchmark-only --benchmark-columns=min,median,max,rounds $(PYTEST_ARGS)

# The polcal fit beside DKIST's own fitter (PA&C), which lives in its own tox environment.
bench-pac: $(STAMP)
	$(BIN)/tox -e pac
	PAC_PYTHON=$(CURDIR)/.tox/pac/bin/python $(BIN)/pytest benchmarks/bench_polcal_fit.py --benchmark-only -s $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) .tox demo-work docs/_build .pytest_cache .benchmarks
