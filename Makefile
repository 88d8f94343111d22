# One entry point: CI runs the same targets a person runs.
SHELL := /bin/bash
MODEL ?= fraud-detection
# pytest-xdist workers of `make test` (a module's tests stay on one worker: its fixtures are shared;
# the longest modules first, in tests/conftest.py's order, not xdist's most-tests-first).
# Three on the 2-core reference machine: the workflow tests wait on job and model-server
# processes, and a third worker fills that time (885 s against 970 s with two).
TEST_WORKERS ?= 3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.installed
# Job runtimes: one virtualenv per image runtime the team files use (mdlc/runtimes.py)
JOB_STAMP := .venv-jobs/.built
CHECKOV_VENV := .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed

export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export CDK_DISABLE_CLI_TELEMETRY := true
export AWS_EC2_METADATA_DISABLED := true

.PHONY: install synth test lint bench demo clean schema job-code-check checkov upgrade

install: $(STAMP) $(NODE_STAMP) $(JOB_STAMP) $(CHECKOV_STAMP)

$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -e .
	touch $@

# The Python and pinned packages of each SageMaker image in use (runtimes/<image>/); the
# interpreter comes from PATH, a pyenv root or `uv` (the error says how to get one).
$(JOB_STAMP): $(STAMP) $(wildcard runtimes/*/*) $(wildcard models/*.yaml) mdlc/runtimes.py mdlc/runtime_build.py
	$(PY) -m mdlc.runtime_build build
	touch $@

# checkov pins an old boto3: it gets a virtualenv of its own.
$(CHECKOV_STAMP): requirements-checkov.txt
	test -x $(CHECKOV_VENV)/bin/python || python3 -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet -r requirements-checkov.txt
	touch $@

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

## synth: install everything, then synthesise the example team into cdk.out/
synth: install
	npx --no-install cdk synth -c model=$(MODEL) --quiet --no-notices

## test: the whole offline suite (contract, CDK assertions, cfn-lint, cdk-nag, checkov, ASL, workflows)
test: install
	$(VENV)/bin/ruff check .
	$(MAKE) --no-print-directory job-code-check
	$(VENV)/bin/pytest -n $(TEST_WORKERS) --dist loadscope --no-loadscope-reorder --durations=15

## upgrade: every exact pin (requirements*.txt, runtimes/lambda-python) set to the newest releases
## that install together within pyproject's ranges (scripts/upgrade_pins.py), then the whole suite
## on them (the changed requirements reinstall the virtualenvs); review the diff and commit it
upgrade: install
	$(PY) scripts/upgrade_pins.py
	$(MAKE) --no-print-directory test

## checkov: every finding of checkov over the example team's synthesised templates (the test
## tests/infrastructure/test_checkov.py fails on any finding without a recorded reason)
checkov: synth
	$(CHECKOV_VENV)/bin/checkov -d cdk.out --framework cloudformation --skip-download --quiet --compact \
		--skip-path 'asset\..*'

lint: install
	$(VENV)/bin/ruff check .
	$(MAKE) --no-print-directory job-code-check

# Code shipped into SageMaker images must run on the oldest Python among the supported images.
# The list is mdlc/shipping.py's IMAGE_PYTHON (what ships to the images, defined once).
JOB_CODE = $$($(PY) -m mdlc.shipping image-python)
job-code-check:
	$(VENV)/bin/vermin --no-tips --violations --eval-annotations -t=$$($(PY) -m mdlc.runtime_build oldest-python)- $(JOB_CODE)

schema: install
	$(VENV)/bin/mdlc schema -o models/team.schema.json

## bench: performance figures reported in the README
bench: install
	$(PY) bench/run_all.py

## demo: the whole lifecycle on this machine, no AWS account
## (the example team then shows its experiments: card-testing recall with and without the
## velocity features, a backtest of examples/stricter-policy.yaml, a shadow challenger)
demo: install
	$(VENV)/bin/mdlc local lifecycle --model $(MODEL)
ifeq ($(MODEL),fraud-detection)
	$(PY) bench/bench_card_testing.py
	$(VENV)/bin/mdlc backtest --model $(MODEL) --policy examples/stricter-policy.yaml --entities 300 --days 45
	$(VENV)/bin/mdlc local shadow --model $(MODEL)
endif

clean:
	rm -rf cdk.out build .pytest_cache
