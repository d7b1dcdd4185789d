# Two commands set everything up on a fresh machine: `make demo` and `make test`.
# Both create .venv if it is missing and install the project into it first.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test test-lowest test-reference lint browser clean sandbox

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
	$(VENV)/bin/ruff check ecasrepro tests bench examples reference
	$(PY) -m pytest -q

# The lowest versions pyproject declares (direct dependencies at their floors), in a venv of their
# own, running the quick tests that exercise each dependency's API: a floor that lies fails here.
LOWEST      ?= .venv-lowest
LOWEST_TESTS = tests/test_packaging.py tests/test_config.py tests/test_metadata.py \
               tests/test_v3_metadata.py tests/test_bundle.py tests/test_notebook.py \
               tests/test_environment.py tests/test_vcs.py tests/test_snapshot_cli.py \
               tests/test_client.py tests/test_publish.py tests/test_sandbox_v3.py \
               tests/test_compat.py tests/test_rocrate.py tests/test_esgf.py \
               tests/test_input_files.py tests/test_kernel_inputs.py
# jsonschema 4.18 and JupyterLab 4.0 bring no rfc3987-syntax: nothing there for the script to skip
LOWEST_DESELECT = --deselect tests/test_snapshot_cli.py::test_the_command_skips_jsonschemas_iri_grammars

test-lowest: $(STAMP)
	$(PY) -m pip install --quiet "uv>=0.4"
	rm -rf $(LOWEST)
	$(VENV)/bin/uv venv --quiet --seed --python $(PY) $(LOWEST)
	VIRTUAL_ENV=$(LOWEST) $(VENV)/bin/uv pip install --quiet --resolution lowest-direct -e '.[test]'
	$(LOWEST)/bin/python -m pytest -q -p no:cacheprovider -m "not browser and not slow" \
	  $(LOWEST_TESTS) $(LOWEST_DESELECT)

# The v3 sandbox held against a real InvenioRDM 13 on loopback (README, "The reference"): start it
# (~2 min; root: apt-get, su postgres), send the journey to it and to the sandbox, run our v3
# publish tests against it, stop it (always). Outside `make test`: it needs root and minutes.
# REF_KEEP=1 leaves the reference running (its URL and tokens in $${TMPDIR:-/tmp}/ecas-ref/ref.json).
test-reference: $(STAMP)
	@if [ -z "$(REF_KEEP)" ]; then trap 'reference/stop.sh' EXIT; fi; \
	nice reference/start.sh >/dev/null || exit 1; \
	$(PY) -m pytest -q -p no:cacheprovider reference/test_reference.py; rc=$$?; \
	$(PY) -c "import json; print(json.load(open('reference/out/report.json'))['summary'])" \
	  2>/dev/null; exit $$rc

lint: $(STAMP)
	$(VENV)/bin/ruff check ecasrepro tests bench examples reference
	$(VENV)/bin/mypy ecasrepro

clean:
	rm -rf $(VENV) $(LOWEST) build *.egg-info .pytest_cache .mypy_cache .ruff_cache

# A local B2SHARE-compatible server (v2 API) for practice: `make sandbox` (Ctrl+C stops it).
sandbox: $(STAMP)
	$(VENV)/bin/ecasrepro sandbox
