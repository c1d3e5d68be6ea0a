# Two commands do everything on a fresh clone: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
N ?= 300
PHOTOS ?=
STAGE ?= dev
PARAMS ?=
PACKAGE := out/package/$(STAGE)
CHROMIUM := /usr/bin/chromium

.PHONY: demo test bench chaos package infra policies clean

$(STAMP): requirements.txt requirements-dev.txt workers/requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $(STAMP)

# The console's browser tests drive Debian's Chromium (Playwright's own browser download is not reachable everywhere
# we run); installed only when missing, and only for the tests: the demo needs no browser. CI runs as root on a fresh
# clone, so apt-get needs no sudo there.
$(CHROMIUM):
	apt-get update && apt-get install -y chromium

demo: $(STAMP)
	$(BIN)/python -m local.demo --n $(N) $(if $(PHOTOS),--photos $(PHOTOS))

# Three workers on CI's two cores: a third of the suite's time is spent waiting (worker processes, a demo back to
# zero, moto servers' round trips), which a third worker fills: 4m24s against 5m07s with two here. The suite's
# subprocesses and moto servers use free ports.
test: $(STAMP) | $(CHROMIUM)
	$(BIN)/pytest -n 3

chaos: $(STAMP)
	$(BIN)/pytest tests/chaos

bench: $(STAMP)
	for script in bench/*.py; do $(BIN)/python $$script || exit 1; done

# The deployable artefacts of a stage: the Lambdas as terraform (CloudFormation packaging refuses @app.on_s3_event on
# a bucket the app does not create) with the partial-batch override beside it, and the two CloudFormation templates.
# Chalice insists on a region although the terraform it writes takes the region at apply time.
package: $(STAMP)
	rm -rf $(PACKAGE)
	AWS_DEFAULT_REGION=$${AWS_DEFAULT_REGION:-us-east-1} $(BIN)/chalice package --stage $(STAGE) --pkg-format terraform $(PACKAGE)/lambdas
	cp .chalice/partial_batch_override.tf.json $(PACKAGE)/lambdas/
	cp infra/ballast.yaml infra/workers.yaml $(PACKAGE)/

# Creates or updates the stage's stacks: make infra STAGE=prod PARAMS="WorkerImageTag=1a2b3c LaunchType=EC2"
infra: $(STAMP)
	$(BIN)/python -m infra.deploy --stage $(STAGE) $(foreach p,$(PARAMS),--parameter $(p))

# Rewrites .chalice/policy-<stage>-<function>.json from infra/policies.py after a change there.
policies: $(STAMP)
	$(BIN)/python -m infra.policies

clean:
	rm -rf $(VENV) out .pytest_cache .hypothesis
