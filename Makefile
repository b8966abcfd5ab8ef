# The README's commands. Each target sets up .venv by itself, so a fresh
# clone needs nothing but python3 (3.10 or newer) and make.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# What the package, its tests, docs and benchmarks need; remade when these
# change.
STAMP := $(VENV)/.installed
# What the demos need: the package alone (the example shop uses nothing
# else), so `make demo` on a fresh clone installs tens of MB, not the test
# suite's browser driver and plotting libraries.
DEMO_STAMP := $(VENV)/.installed-demo
# Reinstall the package itself (not an editable link), so that what runs is
# what a user would install: a file missing from package_data fails.
REINSTALL := $(BIN)/python -m pip install --quiet --no-deps --no-build-isolation --force-reinstall .

.PHONY: demo tour install test lint format docs translations bench bench-smoke flask-suite clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip setuptools wheel

$(DEMO_STAMP): setup.cfg pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet .
	touch $(DEMO_STAMP)

$(STAMP): setup.cfg pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet ".[test,redis,docs,dev,bench]"
	touch $(STAMP)

install: $(STAMP)
	$(REINSTALL)

# The example shop (example/app.py) on http://127.0.0.1:5000.
demo: $(DEMO_STAMP)
	$(REINSTALL)
	$(BIN)/flask --app example.app run --debug

# Every account page, no shop: python -m flask_rivo on http://127.0.0.1:5050.
tour: $(DEMO_STAMP)
	$(REINSTALL)
	$(BIN)/python -m flask_rivo

test: install
	RIVO_TEST_INSTALLED=1 $(BIN)/pytest -n auto

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy --strict flask_rivo

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

docs: install
	$(BIN)/sphinx-build -W --keep-going -b html docs docs/_build/html

# flask_rivo's catalogs, from the sources: extract every marked string
# (babel.cfg) into the template flask_rivo.pot, merge it into each
# language's .po (a changed string comes back fuzzy, for a translator to
# check), and compile the .mo files that ship. A new language:
# make translations NEW_LOCALE=xx
TRANSLATIONS := flask_rivo/translations
translations: $(STAMP)
	$(BIN)/pybabel extract -F babel.cfg --no-default-keywords \
		-k _ -k gettext -k ngettext:1,2 -k pgettext:1c,2 -k lazy_gettext \
		-k _l -k gettext_noop --add-comments=TRANSLATORS: --sort-by-file \
		--project=flask-rivo --copyright-holder="flask-rivo authors" \
		-o $(TRANSLATIONS)/flask_rivo.pot .
	$(if $(NEW_LOCALE),$(BIN)/pybabel init -D flask_rivo -i $(TRANSLATIONS)/flask_rivo.pot \
		-d $(TRANSLATIONS) -l $(NEW_LOCALE))
	$(BIN)/pybabel update -D flask_rivo -i $(TRANSLATIONS)/flask_rivo.pot \
		-d $(TRANSLATIONS) --ignore-obsolete
	$(BIN)/pybabel compile -D flask_rivo -d $(TRANSLATIONS) --statistics

flask-suite: install
	$(BIN)/python tests/flask_suite.py

bench: install
	$(BIN)/python benchmarks/run.py --json benchmarks/results.json
	$(BIN)/python benchmarks/plot.py benchmarks/results.json docs/_static/benchmarks.png
	$(BIN)/python benchmarks/report.py benchmarks/results.json docs/_include/benchmarks-run.txt \
		--targets docs/_include/benchmarks-targets.txt
	$(BIN)/python benchmarks/per_user.py
	$(BIN)/python benchmarks/latency.py --json benchmarks/latency.json
	$(BIN)/python benchmarks/capacity.py

# Every benchmark with tiny counts, so that none rots (CI runs it; < 60 s).
bench-smoke: install
	$(BIN)/python benchmarks/run.py --requests 30 --rounds 1 --json /tmp/rivo-bench-smoke.json
	$(BIN)/python benchmarks/plot.py /tmp/rivo-bench-smoke.json /tmp/rivo-bench-smoke.png
	$(BIN)/python benchmarks/report.py /tmp/rivo-bench-smoke.json /tmp/rivo-bench-smoke.txt \
		--targets /tmp/rivo-bench-smoke-targets.txt
	$(BIN)/python benchmarks/per_user.py --repeat 2
	$(BIN)/python benchmarks/latency.py --clients 8 --requests 40 --warmup 2 --seconds 5
	$(BIN)/python benchmarks/capacity.py --sessions 1000 --purge-rows 2000
	$(BIN)/python benchmarks/hotspots.py memory /read --requests 50 > /dev/null

# The docs' pictures of every account page, from the browser tests (which
# otherwise write them to a temporary folder): commit what changed.
.PHONY: screenshots
screenshots: install
	rm -f docs/_static/screenshots/*.png
	RIVO_SCREENSHOTS=$(CURDIR)/docs/_static/screenshots $(BIN)/pytest --no-cov \
		tests/e2e/test_screenshots.py::test_screenshot

clean:
	rm -rf $(VENV) build dist *.egg-info docs/_build .pytest_cache .mypy_cache .ruff_cache
