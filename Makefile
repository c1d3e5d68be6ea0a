# Two commands do everything on a fresh clone: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
N ?= 300
PHOTOS ?=

.PHONY: demo test bench chaos package clean

$(STAMP): requirements.txt requirements-dev.txt workers/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m local.demo --n $(N) $(if $(PHOTOS),--photos $(PHOTOS))

test: $(STAMP)
	$(BIN)/pytest -n 2  # the two cores CI has; the suite's subprocesses and moto servers use free ports

chaos: $(STAMP)
	$(BIN)/pytest tests/chaos

bench: $(STAMP)
	for script in bench/*.py; do $(BIN)/python $$script || exit 1; done

clean:
	rm -rf $(VENV) out .pytest_cache .hypothesis
