# Two entry points for a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install demo test model seed-model bench clean

# dev: the test tools; postgres: psycopg, so that the database tests also run on PostgreSQL (tests/api/pg.py)
$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev,postgres]'
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(VENV)/bin/cxlens demo

# The database tests also run on a real PostgreSQL: a throwaway cluster from the server binaries of this
# machine (Debian package `postgresql`), or CXLENS_TEST_POSTGRES_URL=postgresql+psycopg://... (a scratch
# database: its tables are dropped); without either they skip and say why.
test: install
	$(PY) -m pytest -q

# Rebuild the trained default model shipped in the package (nlp/data/models/cx-touchpoints: model, meta,
# MANIFEST.json with its sha256) from the bundled seed set; deterministic, minutes on 2 cores. Commit the result.
model: install
	$(PY) -m nlp.lifecycle.shipped build

# Train a new version of the default model into the model store (./models or $$CXLENS_MODELS_DIR) from the seed set.
seed-model: install
	$(VENV)/bin/cxlens train --seed-set --name cx-touchpoints

bench: install
	$(PY) bench/bench_predict.py

clean:
	rm -rf $(VENV) build *.egg-info
