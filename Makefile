# Two commands for a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
EXAMPLE := example
HTTP_ADDR ?= 127.0.0.1:8000
GRPC_ADDR ?= 127.0.0.1:50051

.PHONY: venv run test bench protos migrate clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,uvloop]'
	touch $(STAMP)

migrate: venv
	cd $(EXAMPLE) && ../$(PY) manage.py migrate --noinput

protos: venv
	cd $(EXAMPLE) && ../$(PY) manage.py generateproto

run: migrate protos
	cd $(EXAMPLE) && ../$(PY) manage.py grpcrunaioserver $(GRPC_ADDR) --with-http $(HTTP_ADDR)

test: venv
	$(PY) -m pytest

bench: venv
	$(PY) benchmarks/run.py

clean:
	rm -rf $(VENV) .pytest_cache
