# The README's two commands: `make run` (the main job) and `make test` (the suite CI runs).
# Both bootstrap what they need on a fresh machine: the .venv (rebuilt when pyproject.toml changes),
# the MNIST files (copied from ../shared/data when that folder exists), PostgreSQL and Chromium for the tests.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SHARED_DATA ?= ../shared/data
DATA_DIR ?= data
ARGS ?=

.PHONY: run test test-fast data lint typecheck system-deps report bench

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

# Copies the original dataset files (never writes into ../shared); offline runs need them in place.
data:
	@for d in MNIST FashionMNIST; do \
	  if [ -d "$(SHARED_DATA)/$$d/raw" ] && [ ! -d "$(DATA_DIR)/$$d/raw" ]; then \
	    mkdir -p "$(DATA_DIR)/$$d/raw" && cp "$(SHARED_DATA)/$$d/raw/"*.gz "$(DATA_DIR)/$$d/raw/" && \
	    echo "copied $$d into $(DATA_DIR)/$$d/raw"; \
	  fi; \
	done

# PostgreSQL backs the `--storage postgresql://` tests and Chromium the browser tests of the two UIs; both come
# from Debian's packages when missing (as root), else those tests are skipped.
SYSTEM_PACKAGES = $(if $(wildcard /usr/lib/postgresql/*/bin/initdb),,postgresql) $(if $(shell command -v chromium),,chromium)
system-deps:
	@if [ -n "$(strip $(SYSTEM_PACKAGES))" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing $(strip $(SYSTEM_PACKAGES)) (Debian packages) for the storage and browser tests"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(SYSTEM_PACKAGES) >/dev/null; \
	  else echo "missing $(strip $(SYSTEM_PACKAGES)): their tests will be skipped"; fi; \
	fi

run: $(STAMP) data
	$(BIN)/python -m study.run $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

# The whole suite: the default tests first, then the ones marked slow (long trainings, many processes).
test: test-fast
	$(BIN)/python -m pytest -m slow $(ARGS)

# What a developer runs between changes: everything but the slow tests.
test-fast: $(STAMP) data system-deps lint typecheck
	$(BIN)/python -m pytest -m "not slow" $(ARGS)

# The benchmark (study.bench): ours against plain PyTorch and the article's Keras code. TensorFlow lives in its own
# .venv-keras so that it never shares a process, or a dependency pin, with the study.
KERAS_VENV := .venv-keras
$(KERAS_VENV)/.installed:
	@test -x $(KERAS_VENV)/bin/python || $(PYTHON) -m venv $(KERAS_VENV)
	$(KERAS_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(KERAS_VENV)/bin/python -m pip install --quiet 'tensorflow-cpu==2.21.*'
	@touch $@

bench: $(STAMP) data $(KERAS_VENV)/.installed
	$(BIN)/python -m study.bench $(ARGS)
