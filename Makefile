# The two commands: `make demo` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test test-matrix docs lint bench bench-tools clean

$(BIN)/python:
	$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "tracelog needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Reinstall when the project's metadata changes.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[all,dev]"
	touch $@

demo: $(VENV)/.installed
	$(BIN)/python examples/demo.py

test: $(VENV)/.installed
	$(BIN)/python -m pytest
	NO_MKDOCS_2_WARNING=1 $(BIN)/python -m mkdocs build --strict --quiet --site-dir build/site
	$(BIN)/python -m mypy
	$(BIN)/python -m ruff check tracelog tests benchmarks examples docs/images .ci
	$(BIN)/python -m ruff format --check tracelog tests benchmarks examples docs/images .ci

# The manual (docs/, mkdocs.yml) as a site in build/site; --strict: a broken link or
# reference fails it. `make test` builds it too.
docs: $(VENV)/.installed
	NO_MKDOCS_2_WARNING=1 $(BIN)/python -m mkdocs build --strict --site-dir build/site

# The suite on Python 3.12 and 3.13 and on the oldest dependencies pyproject.toml
# allows, each in its own venv under .venvs/ (see .ci/matrix.py); .ci/run runs it.
test-matrix: $(VENV)/.installed
	$(BIN)/python .ci/matrix.py

bench: $(VENV)/.installed bench-tools
	$(BIN)/python benchmarks/run_all.py

# bench_query.py compares against ripgrep and jq (Debian packages); install them when missing.
bench-tools:
	@command -v rg >/dev/null && command -v jq >/dev/null || { \
		SUDO=$$([ "$$(id -u)" -eq 0 ] || echo sudo); \
		$$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq ripgrep jq; }

clean:
	rm -rf $(VENV) .venvs build *.egg-info .mypy_cache .ruff_cache .pytest_cache .hypothesis
