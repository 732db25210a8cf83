# Two entry points for a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install demo test seed-model bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(VENV)/bin/cxlens demo

test: install
	$(PY) -m pytest -q

# Rebuild the default touchpoint model from the bundled seed set (deterministic).
seed-model: install
	$(VENV)/bin/cxlens train --seed-set --name cx-touchpoints

bench: install
	$(PY) bench/bench_predict.py

clean:
	rm -rf $(VENV) build *.egg-info
