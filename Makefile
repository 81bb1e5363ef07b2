# Two entry points: `make demo` (built-in phantom example) and `make test` (whole suite).
# Both create .venv when missing. Every pip call uses constraints.txt (torch pin, see README).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
CONSTRAINTS := -c constraints.txt

.PHONY: demo test venv-core venv-all clean benchmark system-deps

# The full test environment needs about 7 GB (the pinned torch 2.14.1 CUDA build alone is 5.6 GB):
# say so up front when the disk is short, instead of failing mid-install with ENOSPC.
$(VENV)/bin/python:
	@free_kb=$$(df -Pk . | awk 'NR==2 {print $$4}'); \
	  if [ -n "$$free_kb" ] && [ "$$free_kb" -lt 7500000 ]; then \
	    echo "warning: $$((free_kb / 1024)) MB free here; the full test environment (.venv) needs about 7 GB" >&2; fi
	$(PYTHON) -m venv $(VENV)

# Core install: enough for the demo (no torch, no OpenSim).
$(VENV)/.core-installed: $(VENV)/bin/python pyproject.toml constraints.txt
	$(PIP) install -q $(CONSTRAINTS) -e .
	touch $@

# Everything the test suite covers: nnU-Net/PyTorch, OpenSim, PyRadiomics, Dask.
$(VENV)/.all-installed: $(VENV)/.core-installed pyproject.toml constraints.txt
	$(PIP) install -q $(CONSTRAINTS) -e ".[all,test]"
	touch $@

# System packages for the test suite: headless Chromium renders the HTML report.
# Installed with apt when we are root and it is missing; otherwise the report test says it skipped.
system-deps:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	      || echo "warning: could not install chromium; the report rendering test will be skipped"; \
	  else echo "note: chromium not installed (needs root/apt); the report rendering test will be skipped"; fi; }

venv-core: $(VENV)/.core-installed
venv-all: $(VENV)/.all-installed

demo: $(VENV)/.core-installed
	$(VENV)/bin/spinemets demo -o demo_output

test: $(VENV)/.all-installed system-deps
	$(PY) -m pytest -q

benchmark: $(VENV)/.all-installed
	$(PY) benchmarks/run_all.py

clean:
	rm -rf demo_output .pytest_cache
