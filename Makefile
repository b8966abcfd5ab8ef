# The README's commands. Each target sets up .venv by itself, so a fresh
# clone needs nothing but python3 (3.10 or newer) and make.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# What the package and its tests need; the stamp is remade when these change.
STAMP := $(VENV)/.installed

.PHONY: demo test lint format docs bench bench-smoke flask-suite clean

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip setuptools wheel
	$(BIN)/python -m pip install --quiet ".[test,redis,docs,dev,bench]"
	touch $(STAMP)

# Reinstall the package itself (not an editable link), so the tests run
# against what a user would install: a file missing from package_data fails.
install: $(STAMP)
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation --force-reinstall .

demo: install
	$(BIN)/flask --app example.app run --debug

test: install
	RIVO_TEST_INSTALLED=1 $(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy --strict flask_rivo

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

docs: install
	$(BIN)/sphinx-build -W --keep-going -b html docs docs/_build/html

flask-suite: install
	$(BIN)/python tests/flask_suite.py

bench: install
	$(BIN)/python benchmarks/run.py --json benchmarks/results.json
	$(BIN)/python benchmarks/plot.py benchmarks/results.json docs/_static/benchmarks.png
	$(BIN)/python benchmarks/per_user.py
	$(BIN)/python benchmarks/capacity.py

# Every benchmark with tiny counts, so that none rots (CI runs it; < 60 s).
bench-smoke: install
	$(BIN)/python benchmarks/run.py --requests 30 --rounds 1 --json /tmp/rivo-bench-smoke.json
	$(BIN)/python benchmarks/plot.py /tmp/rivo-bench-smoke.json /tmp/rivo-bench-smoke.png
	$(BIN)/python benchmarks/per_user.py --repeat 2
	$(BIN)/python benchmarks/capacity.py --sessions 1000 --purge-rows 2000

clean:
	rm -rf $(VENV) build dist *.egg-info docs/_build .pytest_cache .mypy_cache .ruff_cache
