# Two commands for a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
EXAMPLE := example
HTTP_ADDR ?= 127.0.0.1:8000
GRPC_ADDR ?= 127.0.0.1:50051

.PHONY: venv run test test-tools lint bench protos migrate clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,uvloop,metrics]'
	touch $(STAMP)

migrate: venv
	cd $(EXAMPLE) && ../$(PY) manage.py migrate --noinput

protos: venv
	cd $(EXAMPLE) && ../$(PY) manage.py generateproto

run: migrate protos
	cd $(EXAMPLE) && ../$(PY) manage.py grpcrunaioserver $(GRPC_ADDR) --with-http $(HTTP_ADDR) --dev

# Lint, the static import checks (the engine never imports the app; no cycles), types, then the suite.
lint: venv
	$(PY) -m ruff check .
	$(PY) tests/imports_check.py
	$(PY) -m mypy

# The suite runs on 3 pytest-xdist workers: most tests wait on servers, so 3 fill 2 cores
# (PYTEST_WORKERS=0: in one process). Byte-compiled first: it starts ~150 server processes,
# which would otherwise each compile the project's modules again where PYTHONDONTWRITEBYTECODE
# is set (as in CI's image).
PYTEST_WORKERS ?= 3
test: lint test-tools
	$(PY) -m compileall -q hybrid_server django_socio_grpc tests example >/dev/null
	$(PY) -m pytest -n $(PYTEST_WORKERS)

# haproxy, for tests/e2e/test_rolling_restart.py: installed when missing and we are root (the test
# skips only where it cannot be installed).
test-tools:
	@command -v haproxy >/dev/null 2>&1 || test -x /usr/sbin/haproxy || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "haproxy not found: installing haproxy"; \
	    timeout 300 apt-get install -y -qq haproxy >/dev/null 2>&1 \
	      || { timeout 300 apt-get update -qq >/dev/null 2>&1 && timeout 300 apt-get install -y -qq haproxy >/dev/null 2>&1; } \
	      || echo "note: could not install haproxy; tests/e2e/test_rolling_restart.py will try again, then fail"; \
	  else \
	    echo "note: haproxy not found (apt-get install haproxy); tests/e2e/test_rolling_restart.py will be skipped"; \
	  fi; }

# The real clients of tests/http_rpc: @connectrpc/connect-node and buf (npm ci from the committed
# package-lock.json) and a headless Chromium, installed when missing (Chromium and Node when root);
# the tests skip what could not be installed.
NODE_CLIENTS := tests/http_rpc/node
.PHONY: clients
test: clients
clients: $(NODE_CLIENTS)/node_modules/.installed
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "chromium not found: installing chromium"; \
	    timeout 600 apt-get install -y -qq chromium >/dev/null 2>&1 \
	      || { timeout 300 apt-get update -qq >/dev/null 2>&1 && timeout 600 apt-get install -y -qq chromium >/dev/null 2>&1; } \
	      || echo "note: could not install chromium; tests/http_rpc/test_browser.py will be skipped"; \
	  else \
	    echo "note: chromium not found (apt-get install chromium); tests/http_rpc/test_browser.py will be skipped"; \
	  fi; }

$(NODE_CLIENTS)/node_modules/.installed: $(NODE_CLIENTS)/package-lock.json
	@command -v npm >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "npm not found: installing nodejs and npm"; \
	    timeout 600 apt-get install -y -qq nodejs npm >/dev/null 2>&1 \
	      || { timeout 300 apt-get update -qq >/dev/null 2>&1 && timeout 600 apt-get install -y -qq nodejs npm >/dev/null 2>&1; }; \
	  fi; }
	@if command -v npm >/dev/null 2>&1; then \
	  cd $(NODE_CLIENTS) && timeout 600 npm ci --no-audit --no-fund --loglevel=error && touch node_modules/.installed \
	    || echo "note: npm ci failed; the Node and buf client tests will be skipped"; \
	else \
	  echo "note: npm not found; the Node and buf client tests will be skipped"; \
	fi

# `make bench` (~5 min), `make bench BENCH_ARGS=--quick` (~1 min), BENCH_ARGS='--only unary,http'.
# h2load (nghttp2-client) is installed when missing and we are root; else the Python load generator.
BENCH_ARGS ?=
bench: venv
	@command -v h2load >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "h2load not found: installing nghttp2-client"; \
	    timeout 300 apt-get install -y -qq nghttp2-client >/dev/null 2>&1 \
	      || { timeout 300 apt-get update -qq >/dev/null 2>&1 && timeout 300 apt-get install -y -qq nghttp2-client >/dev/null 2>&1; } \
	      || echo "note: could not install h2load; falling back to the Python load generator (benchmarks/load.py)"; \
	  else \
	    echo "note: h2load not found (apt-get install nghttp2-client); falling back to the Python load generator"; \
	  fi; }
	$(PY) benchmarks/run.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache
