# Two entry points for a fresh machine: `make run` and `make test`. Everything installs into .venv.
# Installs are stamped with a hash of pyproject.toml, so a second run skips them.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip
HASH   := $(shell cat pyproject.toml Makefile | sha256sum | cut -c1-12)
export HF_HUB_OFFLINE := 1
export ANONYMIZED_TELEMETRY := False

.PHONY: run test setup setup-dev chromium ingest lint clean

run: setup ingest
	$(BIN)/paperchat serve

ingest: setup
	$(BIN)/paperchat ingest data/

# Lint first: a style error fails the run in seconds, before the half-hour suite.
test: setup-dev
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

setup: $(VENV)/.installed-$(HASH)
setup-dev: $(VENV)/.installed-dev-$(HASH) chromium

# The browser test drives Debian's chromium; playwright's own browser download is never used.
chromium:
	test -x /usr/bin/chromium || apt-get install -y --no-install-recommends chromium \
		|| (apt-get update && apt-get install -y --no-install-recommends chromium)

$(VENV)/.installed-$(HASH):
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	# torch first and pinned: the CPU build is on this disk; anything looser pulls CUDA wheels.
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e .
	rm -f $(VENV)/.installed-*
	touch $@

# llama-cpp-python builds from source. A native build (-march=native) crashed in its first
# decode on this machine's AVX-512 CPU; the portable build (AVX2, FMA, F16C) does not. Built
# without pip's wheel cache, so a native wheel built before is never reused.
$(VENV)/.installed-dev-$(HASH): $(VENV)/.installed-$(HASH)
	CMAKE_ARGS="-DGGML_NATIVE=OFF" $(PIP) install -q --no-cache-dir -e '.[llamacpp]'
	$(PIP) install -q -e '.[dev,bench,llamacpp,ray,llm-eval]'
	touch $@

lint: setup-dev
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
