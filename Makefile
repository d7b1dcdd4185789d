# Two commands set everything up on a fresh machine: `make demo` and `make test`.
# Both create .venv if it is missing and install the project into it first.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test lint browser clean sandbox

$(PY):
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

# Headless Chromium for the review-page test, from Debian's packages (root on these machines).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing Debian's chromium for the browser tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

demo: $(STAMP)
	$(PY) examples/demo.py

test: $(STAMP) browser
	$(VENV)/bin/ruff check ecasrepro tests bench examples
	$(PY) -m pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check ecasrepro tests bench examples
	$(VENV)/bin/mypy ecasrepro

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache

# A local B2SHARE-compatible server (v2 API) for practice: `make sandbox` (Ctrl+C stops it).
sandbox: $(STAMP)
	$(VENV)/bin/ecasrepro sandbox
