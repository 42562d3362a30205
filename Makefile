# `make run` opens the dashboard; `make test` runs every test. Each sets up .venv first.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
PORT    ?= 8501

.PHONY: run test bench sandbox browser clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/streamlit run app.py --server.port $(PORT)

# Browser tests need Debian's chromium (and an emoji font for readable screenshots); install
# them when missing (never a browser download).
browser:
	@{ command -v chromium >/dev/null 2>&1 && dpkg -s fonts-noto-color-emoji >/dev/null 2>&1; } || { \
	  echo "installing chromium and fonts-noto-color-emoji for the browser tests (apt-get)"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-color-emoji >/dev/null) \
	  || echo "could not install chromium: browser tests will fail; run 'apt-get install chromium'"; }

test: $(STAMP) browser
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	@for script in bench/*_bench.py bench/adapter_overhead.py bench/run_profile.py; do \
	  echo "== $$script"; $(BIN)/python $$script || exit 1; done

sandbox: $(STAMP)
	$(BIN)/orchestra sandbox serve --host 127.0.0.1 --port 8787

clean:
	rm -rf $(VENV) .pytest_cache screenshots
