# contrastlab: two commands set everything up.
#   make lab    create ./.venv if needed, install, register the kernel, open JupyterLab
#   make test   create or update ./.venv, run the default test suite
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.contrastlab-installed
PYTEST_ARGS ?=
# The default suite leaves out the slow tests and the browser tests; `make test-browser` runs the
# browser tests (CI runs both), `make test-all` everything.
TEST_MARKERS ?= not slow and not browser

# The import contracts in pyproject.toml ([tool.importlinter]); run from the repository root so
# that tools/import_contracts.py (the custom contract type) is importable. No cache: it takes 0.3 s.
LINT_IMPORTS := $(VENV)/bin/lint-imports --no-cache --no-logo

.PHONY: lab test test-all fuzz test-browser lint-imports layers book notebooks verdicts conventions dashboard bench lock clean help

help:
	@echo "make lab       open JupyterLab on notebooks/ (installs ./.venv on first run)"
	@echo "make test      check the import contracts, then run the default test suite (installs ./.venv on first run)"
	@echo "make lint-imports  check the import contracts alone (the layers; also: make layers)"
	@echo "make test-all  also run the slow tests (and the fuzz suite's slow profile)"
	@echo "make fuzz      the property-based fuzz suite (tests/fuzz) with many examples per function"
	@echo "make test-browser  drive JupyterLab and Voila in headless Chromium (installs Debian's chromium if missing)"
	@echo "make book      execute every notebook headless and write HTML to build/book/"
	@echo "make verdicts  run every lesson in full mode and record its verdicts (on a quiet machine)"
	@echo "make notebooks regenerate notebooks/*.ipynb (no outputs) from their py:percent sources"
	@echo "make conventions  regenerate CONVENTIONS.md from the translator's table (contrastlab.conventions)"
	@echo "make dashboard NB=notebooks/apps/app_temperature.ipynb   serve one notebook's widgets alone with Voila"
	@echo "make bench     run every benchmark in benchmarks/, print the tables, write benchmarks/RESULTS.md"
	@echo "make lock      re-resolve constraints.txt from pyproject.toml (needs the network)"

$(PY):
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "contrastlab needs Python 3.11 or newer; set PYTHON=/path/to/python3.11")'
	$(PYTHON) -m venv $(VENV)

# Reinstalls whenever the pins change.
$(STAMP): $(PY) pyproject.toml constraints.txt
	$(PY) -m pip install --quiet --upgrade "pip>=23.2"
	$(PY) -m pip install --quiet -c constraints.txt -e ".[dev]"
	$(PY) -m ipykernel install --sys-prefix --name contrastlab --display-name "Python (contrastlab)" >/dev/null
	$(PY) -m contrastlab.interactive.projection --prime
	@touch $(STAMP)

lab: $(STAMP)
	$(PY) -m ipykernel install --user --name contrastlab --display-name "Python (contrastlab)" >/dev/null
	$(VENV)/bin/jupyter lab notebooks/ $(if $(filter 0,$(shell id -u)),--allow-root,)

test: $(STAMP)
	$(LINT_IMPORTS)
	$(PY) -m pytest -m "$(TEST_MARKERS)" $(PYTEST_ARGS)

lint-imports layers: $(STAMP)
	$(LINT_IMPORTS)

test-browser: $(STAMP)
	bash tools/install_chromium.sh
	$(PY) -m pytest tests/browser -m browser $(PYTEST_ARGS)

test-all: $(STAMP)
	$(LINT_IMPORTS)
	CONTRASTLAB_FUZZ=slow $(PY) -m pytest $(PYTEST_ARGS)

# The Hypothesis suite with its "slow" profile (tests/fuzz/conftest.py): a few minutes, random each run.
fuzz: $(STAMP)
	CONTRASTLAB_FUZZ=slow $(PY) -m pytest tests/fuzz $(PYTEST_ARGS)

verdicts: $(STAMP)
	$(PY) tools/record_verdicts.py

book: $(STAMP)
	$(PY) tools/build_book.py --out build/book $(BOOK_ARGS)

notebooks: $(STAMP)
	$(PY) tools/notebooks.py sync

# CONVENTIONS.md from the translator's table (contrastlab/conventions.py); tests/test_conventions.py fails when stale
conventions: $(STAMP)
	$(PY) tools/conventions.py

# A workshop dashboard: one notebook's widgets, without the code, at http://127.0.0.1:$(PORT)
NB ?= notebooks/apps/app_temperature.ipynb
PORT ?= 8866
dashboard: $(STAMP)
	$(VENV)/bin/voila "$(NB)" --no-browser --port=$(PORT) --Voila.ip=127.0.0.1 \
	    --VoilaConfiguration.extension_denylist=jupyterlab-jupytext

bench: $(STAMP)
	$(PY) benchmarks/run_all.py

lock: $(PY)
	$(PY) -m pip install --quiet -e ".[dev]"
	( echo "# Every package of the environment, pinned (pip install -c constraints.txt -e '.[dev]')."; \
	  echo "# Regenerate with: make lock"; \
	  $(PY) -m pip freeze --exclude-editable | sed -e 's/+cpu$$//' ) > constraints.txt

clean:
	rm -rf build .pytest_cache
