# Two entry points for a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY      = $(VENV)/bin/python
DEMO_DB = build/demo.db

.PHONY: demo test lint stress bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

# The core alone for the demo; the dev extra (test tools, Jupyter) for everything else.
$(VENV)/.installed-core: pyproject.toml | $(PY)
	$(PY) -m pip install -q -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(PY)
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

demo: $(VENV)/.installed-core
	mkdir -p build && rm -f $(DEMO_DB)
	$(VENV)/bin/nbmigrate --db sqlite:///$(DEMO_DB) --dir migrations up
	$(VENV)/bin/nbmigrate --db sqlite:///$(DEMO_DB) --dir migrations status
	$(VENV)/bin/nbmigrate --db sqlite:///$(DEMO_DB) --dir migrations down
	$(VENV)/bin/nbmigrate --db sqlite:///$(DEMO_DB) --dir migrations up
	$(VENV)/bin/nbmigrate --db sqlite:///$(DEMO_DB) --dir migrations status

test: lint
	$(PY) -m pytest -q

# ruff, mypy --strict on the package, and import-linter's layer contracts (pyproject.toml).
lint: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check nbmigrate tests bench
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

# The reliability suite at full counts (200 SIGKILLs per database, 20 rounds of each race,
# thousands of fuzz examples); about half an hour, never more than 45 minutes. The figures
# are printed at the end and saved to build/reliability-figures-stress.json.
stress: $(VENV)/.installed-dev
	NBMIGRATE_STRESS=1 timeout --signal=INT --kill-after=60 45m $(PY) -m pytest -q -m "stress or reliability" tests

# Every scenario at N = 10, 100, 1000; then no-op and status up to 10,000 migrations (is
# their cost flat?); then the 1,000,000-row data migration. About 30 minutes.
bench: $(VENV)/.installed-dev
	mkdir -p build
	$(PY) bench/run.py --markdown build/bench.md
	$(PY) bench/run.py --sizes 10,10000 --scenarios noop,status --tools nbmigrate,nbmigrate-engine,floor-sqlite3,floor-aiosqlite,yoyo \
		--repeat 3 --markdown build/bench-10000.md
	$(PY) bench/data_migration.py --rows 1000000

clean:
	rm -rf build $(VENV) .pytest_cache .ruff_cache
