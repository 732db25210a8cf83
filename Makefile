# Two entry points for a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install demo test seed-model bench clean

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

# Rebuild the default touchpoint model from the bundled seed set (deterministic).
seed-model: install
	$(VENV)/bin/cxlens train --seed-set --name cx-touchpoints

bench: install
	$(PY) bench/bench_predict.py

clean:
	rm -rf $(VENV) build *.egg-info
